#!/usr/bin/env python3
"""vigild's life cycle: --check, SIGTERM, SIGHUP reloads, --list-alerts."""

import os
import re
import signal
import unittest

import vigiltest
from vigiltest import VigilTestCase

SYSTEM_CONFIGS = ('/etc/vigil/vigil.yaml', '/usr/local/etc/vigil/vigil.yaml')

# A configuration whose lines and columns the tests below rely on.
BAD_DURATION = '''\
state_dir: state
defaults:
  interval: 10 minutes
sources: []
'''

TYPO_TOP_LEVEL = '''\
state_dir: state
soruces:
  - name: feed
    plugin: jsonl
'''


class CheckTest(VigilTestCase):
    """`vigild --check`: exit 0 and OK, or exit 1 and file:line:column for every error."""

    def good_config(self):
        self.write_config({
            'defaults': {'interval': '10m', 'user_agent': 'vigil-tests (+mailto:t@example.org)'},
            'sources': [self.jsonl_source('feed', 'http://127.0.0.1:9/feed.jsonl', max_items=10),
                        {'name': 'local', 'plugin': 'jsonl', 'path': 'local.jsonl'}],
            'sinks': [self.log_sink()],
        })

    def assertCheckError(self, text, line, column, pattern):
        path = self.write_config(text)
        r = self.check()
        self.assertExit(r, 1)
        where = '%s:%d:%d: error: ' % (path, line, column)
        errors = [l for l in r.stderr.splitlines() if ': error: ' in l]
        self.assertTrue(any(l.startswith(where) for l in errors),
                        'no error at %s in %r' % (where, r))
        msg = [l for l in errors if l.startswith(where)][0][len(where):]
        self.assertRegex(msg, pattern)
        self.assertNotIn('OK', r.stdout)
        return r

    def test_good_config(self):
        self.good_config()
        r = self.check()
        self.assertOk(r)
        self.assertRegex(r.stdout, r'vigil\.yaml: OK \(2 sources, 1 sinks, \d+ rules\)')
        # --check neither starts anything nor writes state.
        self.assertFalse(os.path.exists(self.path('alerts.jsonl')))
        self.assertFalse(os.path.exists(self.state_dir))

    def test_check_found_through_vigil_config(self):
        self.good_config()
        r = self.check(config=False, env={'VIGIL_CONFIG': self.config_path})
        self.assertOk(r)
        self.assertIn('OK', r.stdout)

    def test_missing_file(self):
        r = self.check(config=self.path('nowhere.yaml'))
        self.assertExit(r, 1)
        self.assertIn('nowhere.yaml: error: no such configuration file', r.stderr)

    def test_bad_duration(self):
        self.assertCheckError(BAD_DURATION, 3, 13,
                              r'expected a duration like 90s, 10m, 6h or 1d, got "10 minutes"')

    def test_bad_source_interval(self):
        self.assertCheckError('''\
sources:
  - name: feed
    plugin: jsonl
    url: http://127.0.0.1:9/x
    interval: 0s
''', 5, 15, r'expected a duration greater than zero')

    def test_unknown_top_level_key(self):
        self.assertCheckError(TYPO_TOP_LEVEL, 2, 1,
                              r'unknown key `soruces` at the top level; did you mean `sources`\?')

    def test_unknown_defaults_key(self):
        self.assertCheckError('''\
defaults:
  intervall: 5m
''', 2, 3, r'unknown key `intervall` in defaults; did you mean `interval`\?')

    def test_unknown_plugin_option_did_you_mean(self):
        self.assertCheckError('''\
sources:
  - name: feed
    plugin: jsonl
    url: http://127.0.0.1:9/x
    max_itmes: 5
''', 5, 5, r'unknown option `max_itmes` for plugin `jsonl`; did you mean `max_items`\?')

    def test_unknown_plugin_option_lists_the_table(self):
        self.assertCheckError('''\
sinks:
  - name: out
    plugin: log
    colour: red
''', 4, 5, r'unknown option `colour` for plugin `log` \(it takes: path, fsync; ')

    def test_source_key_on_a_sink(self):
        self.assertCheckError('''\
sinks:
  - name: out
    plugin: log
    interval: 5m
''', 4, 5, r'unknown option `interval` for plugin `log`')

    def test_wrong_option_type(self):
        self.assertCheckError('''\
sources:
  - name: feed
    plugin: jsonl
    url: http://127.0.0.1:9/x
    max_items: "ten"
''', 5, 16, r'`max_items`: expected a whole number, got "ten" '
                r'\(numbers are written without quotes\)')

    def test_wrong_option_type_bool(self):
        self.assertCheckError('''\
sinks:
  - name: out
    plugin: log
    fsync: sometimes
''', 4, 12, r'`fsync`: expected true or false')

    def test_unknown_plugin(self):
        self.assertCheckError('''\
sources:
  - name: feed
    plugin: jsnol
''', 3, 13, r'no plugin "jsnol": jsnol\.so not found in ')

    def test_plugin_of_the_wrong_kind(self):
        self.assertCheckError('''\
sinks:
  - name: out
    plugin: jsonl
''', 3, 13, r'plugin "jsonl" is a source, but "out" is listed under sinks:')

    def test_duplicate_name(self):
        self.assertCheckError('''\
sources:
  - name: feed
    plugin: jsonl
    url: http://127.0.0.1:9/x
sinks:
  - name: feed
    plugin: log
''', 6, 11, r'duplicate instance name `feed` \(first at line 2, column 11\)')

    def test_yaml_syntax_error(self):
        self.assertCheckError('''\
sources:
  - name: feed
    plugin: jsonl
    url: [http://127.0.0.1:9/x
''', 5, 1, r"did not find expected ',' or ']'")

    def test_every_error_is_reported(self):
        path = self.write_config('''\
sources:
  - name: a
    plugin: jsonl
    url: http://127.0.0.1:9/x
    max_items: many
  - name: b
    plugin: jsonl
    url: http://127.0.0.1:9/y
    max_itmes: 1
''')
        r = self.check()
        self.assertExit(r, 1)
        self.assertIn('%s:5:16: error: ' % path, r.stderr)
        self.assertIn('%s:9:5: error: ' % path, r.stderr)
        self.assertRegex(r.stderr, r': 2 errors\n')

    def test_once_refuses_an_invalid_config(self):
        path = self.write_config(BAD_DURATION)
        r = self.once()
        self.assertExit(r, 1)
        self.assertIn('%s:3:13: error: ' % path, r.stderr)


class FilesTest(VigilTestCase):
    """Where vigild finds its configuration and puts its state."""

    def config_text(self, state_dir=None):
        self.server.write_items('a.jsonl', [{'id': 'a-1', 'title': 'one'}])
        config = {
            'rules': self.path('rules.d'),     # the catch-all rule, from wherever the file is
            'sources': [self.jsonl_source('a', self.server.file_url('a.jsonl'),
                                          alert_on_first_poll=True)],
            'sinks': [self.log_sink()],
        }
        if state_dir:
            config = {'state_dir': state_dir, **config}
        return vigiltest.to_yaml(config)

    def test_paths_are_relative_to_the_config_file(self):
        path = self.write_file('conf/vigil.yaml', self.config_text(state_dir='st'))
        r = self.once(config=path)
        self.assertOk(r)
        self.assertEqual(len(self.alerts('conf/alerts.jsonl')), 1)
        self.assertTrue(os.path.exists(self.path('conf', 'st', 'state.db')))
        self.assertFalse(os.path.exists(self.path('alerts.jsonl')))

    def test_state_directory_from_the_environment(self):
        self.write_file('vigil.yaml', self.config_text())
        sd = self.path('systemd-state')
        r = self.once(env={'STATE_DIRECTORY': sd + ':' + self.path('other')})
        self.assertOk(r)
        self.assertIn('state %s' % sd, r.stderr)
        self.assertTrue(os.path.exists(os.path.join(sd, 'state.db')))
        # The same state again: nothing new.
        r = self.once(env={'STATE_DIRECTORY': sd})
        self.assertOk(r)
        self.assertEqual(len(self.alerts()), 1)

    def test_state_in_xdg_state_home_by_default(self):
        self.write_file('vigil.yaml', self.config_text())
        r = self.once()
        self.assertOk(r)
        self.assertTrue(os.path.exists(self.path('xdg-state', 'vigil', 'state.db')))

    def test_config_from_xdg_config_home(self):
        self.write_file('xdg-config/vigil/vigil.yaml', self.config_text(state_dir='state'))
        r = self.once(config=False)
        self.assertOk(r)
        self.assertEqual(len(self.alerts('xdg-config/vigil/alerts.jsonl')), 1)

    def test_state_dir_that_cannot_be_created(self):
        self.write_file('not-a-dir', 'a file\n')
        self.write_file('vigil.yaml', self.config_text(state_dir='not-a-dir/state'))
        r = self.once()
        self.assertExit(r, 1)
        self.assertIn('cannot create state directory %s' % self.path('not-a-dir', 'state'),
                      r.stderr)
        self.assertEqual(self.alerts(), [])

    @unittest.skipIf(any(os.path.exists(p) for p in SYSTEM_CONFIGS),
                     'a system-wide vigil configuration exists')
    def test_no_config_anywhere(self):
        r = self.check(config=False)
        self.assertExit(r, 1)
        self.assertIn('no configuration file found; tried %s'
                      % self.path('xdg-config', 'vigil', 'vigil.yaml'), r.stderr)


class SignalTest(VigilTestCase):
    """A running vigild: SIGTERM stops it, SIGHUP reloads it."""

    def config(self, *sources):
        self.write_config({
            'defaults': {'interval': '1s', 'startup_spread': '1s'},
            'sources': list(sources),
            'sinks': [self.log_sink()],
        })

    def source(self, name, doc):
        return self.jsonl_source(name, self.server.file_url(doc), alert_on_first_poll=True)

    def test_sigterm_stops_gracefully(self):
        self.server.write_items('a.jsonl', [{'id': 'a-1', 'title': 'one'}])
        self.config(self.source('a', 'a.jsonl'))
        d = self.start_daemon()
        d.wait_log(r'info: vigild \S+ started: 1 sources, 1 sinks')
        d.wait_log(r'debug: out: alert \d+ delivered')
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(), 0)
        log = d.log()
        self.assertRegex(log, r'info: SIGTERM: finishing polls and deliveries')
        self.assertRegex(log.splitlines()[-1], r'info: stopped$')
        self.assertEqual(self.alert_item_ids(), ['a-1'])

    def test_pid_file_and_one_daemon_at_a_time(self):
        self.config(self.source('a', 'a.jsonl'))
        d = self.start_daemon()
        d.wait_log(r'info: vigild \S+ started')
        pid_path = self.path('xdg-runtime', 'vigil', 'vigild.pid')
        with open(pid_path) as f:
            self.assertEqual(int(f.read().strip()), d.proc.pid)
        second = self.start_daemon()
        self.assertEqual(second.wait(), 1)
        self.assertRegex(second.log(), r'another vigild \(pid %d\) is running' % d.proc.pid)
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(), 0)
        self.assertFalse(os.path.exists(pid_path))

    def test_sigint_stops_gracefully(self):
        self.config(self.source('a', 'a.jsonl'))
        d = self.start_daemon()
        d.wait_log(r'debug: a: next poll in')
        d.signal(signal.SIGINT)
        self.assertEqual(d.wait(), 0)
        self.assertRegex(d.log(), r'info: stopped\n$')

    def test_sigterm_during_a_slow_poll_waits_for_it(self):
        # A poll in progress may finish within shutdown_timeout; its alerts are kept.
        self.server.write_items('slow.jsonl', [{'id': 's-1', 'title': 'slow'}])
        self.write_config({
            'defaults': {'interval': '1h', 'startup_spread': '1s', 'shutdown_timeout': '10s'},
            'sources': [self.jsonl_source('slow', self.server.url('/delay/1500/slow.jsonl'),
                                          alert_on_first_poll=True)],
            'sinks': [self.log_sink()],
        })
        d = self.start_daemon()
        d.wait_log(r'http: start GET .*/delay/1500/slow\.jsonl')
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(), 0)
        self.assertRegex(d.log(), r'slow: poll ok in \d+ ms: 1 items, 1 new, 1 alerts')
        # The alert was committed; delivered at stop or at the next start, never lost.
        self.write_config({
            'sources': [],
            'sinks': [self.log_sink()],
        })
        self.assertOk(self.once())
        self.assertEqual(self.alert_item_ids(), ['s-1'])

    def test_reload_refuses_an_invalid_config(self):
        self.server.write_items('a.jsonl', [{'id': 'a-1', 'title': 'one'}])
        self.config(self.source('a', 'a.jsonl'))
        d = self.start_daemon()
        d.wait_log(r'info: a: poll ok')
        path = self.write_config(BAD_DURATION)
        d.signal(signal.SIGHUP)
        d.wait_log(r'info: reloading ')
        d.wait_log(re.escape('%s:3:13: error: expected a duration' % path))
        d.wait_log(r'error: reload refused: the configuration above has 1 error; '
                   r'the running configuration stays in force')
        # Still polling the old configuration.
        d.wait_log(r'info: a: poll ok')
        d.wait_log(r'info: a: poll ok')
        self.assertEqual(d.stop(), 0)

    def test_reload_refuses_a_config_with_an_unknown_plugin(self):
        self.server.write_items('a.jsonl', [{'id': 'a-1', 'title': 'one'}])
        self.config(self.source('a', 'a.jsonl'))
        d = self.start_daemon()
        d.wait_log(r'info: a: poll ok')
        self.write_config({
            'defaults': {'interval': '1s'},
            'sources': [self.source('a', 'a.jsonl'),
                        {'name': 'b', 'plugin': 'no-such-plugin'}],
            'sinks': [self.log_sink()],
        })
        d.signal(signal.SIGHUP)
        d.wait_log(r'error: .*vigil\.yaml:\d+:\d+: error: no plugin "no-such-plugin"')
        d.wait_log(r'error: reload refused')
        d.wait_log(r'info: a: poll ok')
        self.assertNotRegex(d.log(), r'info: reloaded')
        self.assertEqual(d.stop(), 0)

    def test_reload_adds_a_source(self):
        self.server.write_items('a.jsonl', [{'id': 'a-1', 'title': 'one'}])
        self.server.write_items('b.jsonl', [{'id': 'b-1', 'title': 'bee'}])
        self.config(self.source('a', 'a.jsonl'))
        d = self.start_daemon()
        d.wait_log(r'info: a: poll ok')
        d.wait_log(r'debug: out: alert \d+ delivered')

        self.config(self.source('a', 'a.jsonl'), self.source('b', 'b.jsonl'))
        d.signal(signal.SIGHUP)
        d.wait_log(r'info: reloaded: 2 sources, 1 sinks')
        d.wait_log(r'info: b: poll ok in \d+ ms: 1 items, 1 new, 1 alerts')
        d.wait_count(r'debug: out: alert \d+ delivered', 2)
        # The unchanged source kept running: it was not started again.
        self.assertEqual(len(d.matches(r'debug: a: started')), 1)
        self.assertEqual(len(d.matches(r'debug: b: started')), 1)
        self.assertEqual(d.stop(), 0)
        self.assertEqual(self.alert_item_ids(), ['a-1', 'b-1'])

    def test_reload_unchanged_keeps_everything_running(self):
        self.server.write_items('a.jsonl', [{'id': 'a-1', 'title': 'one'}])
        self.config(self.source('a', 'a.jsonl'))
        d = self.start_daemon()
        d.wait_log(r'info: a: poll ok')
        # Same settings, written differently.
        self.write_file('vigil.yaml', self.read_file('vigil.yaml') + '# a comment\n')
        d.signal(signal.SIGHUP)
        d.wait_log(r'info: reloaded: 1 sources, 1 sinks')
        d.wait_log(r'info: a: poll ok')
        self.assertEqual(len(d.matches(r'debug: a: started')), 1)
        self.assertEqual(len(d.matches(r'debug: out: started')), 1)
        self.assertEqual(len(d.matches(r'debug: a: first poll in')), 1)
        self.assertEqual(d.stop(), 0)

    def test_reload_removes_a_source(self):
        self.server.write_items('a.jsonl', [{'id': 'a-1', 'title': 'one'}])
        self.server.write_items('b.jsonl', [{'id': 'b-1', 'title': 'bee'}])
        self.config(self.source('a', 'a.jsonl'), self.source('b', 'b.jsonl'))
        d = self.start_daemon()
        d.wait_count(r'info: b: poll ok', 1)
        self.config(self.source('a', 'a.jsonl'))
        d.signal(signal.SIGHUP)
        d.wait_log(r'info: reloaded: 1 sources, 1 sinks')
        hits = self.server.hit_count('/files/b.jsonl')
        # Two more polls of a, and none of b.
        d.wait_log(r'info: a: poll ok')
        d.wait_log(r'info: a: poll ok')
        self.assertEqual(self.server.hit_count('/files/b.jsonl'), hits)
        self.assertEqual(d.stop(), 0)

    def test_reload_replaces_a_changed_source(self):
        self.server.write_items('a.jsonl', [{'id': 'a-1', 'title': 'one'}])
        self.server.write_items('a2.jsonl', [{'id': 'a-1', 'title': 'one'},
                                             {'id': 'a-2', 'title': 'two'}])
        self.config(self.source('a', 'a.jsonl'))
        d = self.start_daemon()
        d.wait_log(r'info: a: poll ok')
        self.config(self.source('a', 'a2.jsonl'))
        d.signal(signal.SIGHUP)
        d.wait_log(r'info: reloaded: 1 sources, 1 sinks')
        # The new instance polls the new URL; what the old one saw stays seen.
        d.wait_log(r'info: a: poll ok in \d+ ms: 2 items, 1 new, 1 alerts')
        self.assertGreaterEqual(self.server.hit_count('/files/a2.jsonl'), 1)
        d.wait_count(r'debug: out: alert \d+ delivered', 2)
        self.assertEqual(d.stop(), 0)
        self.assertEqual(self.alert_item_ids(), ['a-1', 'a-2'])


class ListAlertsTest(VigilTestCase):
    """`vigild --list-alerts [--failed]`: what is still in the outbox."""

    def setup_undeliverable(self, **defaults):
        # /dev/full: every write fails with ENOSPC, so deliveries are retried later.
        self.server.write_items('a.jsonl', [{'id': 'a-1', 'title': 'Alpha title'},
                                            {'id': 'a-2', 'title': 'Beta title'}])
        config = {
            'sources': [self.jsonl_source('a', self.server.file_url('a.jsonl'),
                                          alert_on_first_poll=True)],
            'sinks': [self.log_sink('full', '/dev/full')],
        }
        if defaults:
            config['defaults'] = defaults
        self.write_config(config)

    def test_empty_outbox(self):
        self.write_config({'sources': [], 'sinks': [self.log_sink()]})
        r = self.list_alerts()
        self.assertOk(r)
        self.assertEqual(r.stdout, '')
        r = self.list_alerts('--failed')
        self.assertOk(r)
        self.assertEqual(r.stdout, '')

    def test_pending_after_a_failed_delivery(self):
        self.setup_undeliverable()
        r = self.once()
        # The poll succeeded; the deliveries wait for their retry time.
        self.assertOk(r)
        self.assertRegex(r.stderr, r'full: alert \d+: attempt 1 failed \(cannot write to '
                                   r'/dev/full: No space left on device\); retry in \d+s')
        r = self.list_alerts()
        self.assertOk(r)
        rows = [l.split('\t') for l in r.stdout.splitlines()]
        self.assertEqual(len(rows), 2, r)
        for row, title in zip(sorted(rows, key=lambda x: int(x[0])), ('Alpha title', 'Beta title')):
            self.assertRegex(row[0], r'^\d+$')
            self.assertRegex(row[1], r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')
            self.assertEqual(row[2], 'full')
            self.assertEqual(row[3], 'pending')
            self.assertEqual(row[4], 'attempts=1')
            self.assertEqual(row[5], 'every item')
            self.assertEqual(row[6], title)
            self.assertIn('No space left on device', row[7])
        # Nothing failed for good.
        r = self.list_alerts('--failed')
        self.assertOk(r)
        self.assertEqual(r.stdout, '')

    def test_dead_letters(self):
        # Older than max_age at the first retry: a dead letter, listed with --failed.
        self.setup_undeliverable(max_age='1s')
        r = self.once()
        self.assertOk(r)
        self.assertRegex(r.stderr, r'error: full: alert \d+ \(every item\): dead letter')
        failed = self.list_alerts('--failed')
        self.assertOk(failed)
        rows = [l.split('\t') for l in failed.stdout.splitlines()]
        self.assertEqual(len(rows), 2, failed)
        for row in rows:
            self.assertEqual(row[3], 'failed')
            self.assertIn('dead letter', row[7])
        # Without --failed the dead letters are listed too.
        listed = self.list_alerts()
        self.assertOk(listed)
        self.assertEqual(len(listed.stdout.splitlines()), 2)

    def test_invalid_config(self):
        self.write_config(BAD_DURATION)
        r = self.list_alerts()
        self.assertExit(r, 1)
        self.assertIn(':3:13: error: ', r.stderr)


if __name__ == '__main__':
    vigiltest.main()
