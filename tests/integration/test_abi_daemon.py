#!/usr/bin/env python3
"""The daemon with the abi suite's fixture plugins: failing and refused instances, `optional:`."""

import re
import signal

import vigiltest
from vigiltest import VigilTestCase

GOOD = {'name': 'good', 'plugin': 'fixture-good', 'count': 1, 'alert_on_first_poll': True}


class AbiDaemonTest(VigilTestCase):

    plugin_dirs = [vigiltest.PLUGIN_DIR, vigiltest.ABI_DIR]

    def config(self, *sources):
        self.write_config({
            'sources': [GOOD] + list(sources),
            'sinks': [self.log_sink()],
        })

    def run_once(self):
        return self.once(plugin_dirs=self.plugin_dirs)

    def run_check(self):
        return self.check(plugin_dirs=self.plugin_dirs)

    def test_good_fixture_alone(self):
        self.config()
        r = self.run_once()
        self.assertOk(r)
        self.assertEqual([(a['source'], a['item']['id'], a['item']['title'])
                          for a in self.alerts()], [('good', 'good-1', 'good item')])

    def test_required_option_missing(self):
        self.write_config({
            'sources': [{'name': 'good', 'plugin': 'fixture-good'}],
            'sinks': [self.log_sink()],
        })
        r = self.run_check()
        self.assertExit(r, 1)
        self.assertRegex(r.stderr, r'vigil\.yaml:3:5: error: source `good` is missing `count:`, '
                                   r'which plugin `fixture-good` requires')

    def test_optional_source_failing_create(self):
        self.config({'name': 'moon', 'plugin': 'fixture-fails-create', 'optional': True})
        r = self.run_once()
        # The good source ran and its alert went out; the optional one is reported.
        self.assertExit(r, 1)
        self.assertIn('cannot reach the moon', r.stderr)
        self.assertRegex(r.stderr, r'moon: optional: running without it')
        self.assertRegex(r.stderr, r'vigild: source moon failed: it did not start')
        self.assertNotRegex(r.stderr, r'vigild: source good failed')
        self.assertEqual(self.alert_item_ids(), ['good-1'])

    def test_required_source_failing_create(self):
        self.config({'name': 'moon', 'plugin': 'fixture-fails-create'})
        r = self.run_once()
        self.assertExit(r, 1)
        self.assertIn('cannot reach the moon', r.stderr)
        self.assertRegex(r.stderr, r'moon: plugin fixture-fails-create failed to start')
        self.assertRegex(r.stderr, r'not starting: a required source or sink failed to start')
        self.assertEqual(self.alerts(), [])
        self.assertNotRegex(r.stderr, r'poll ok')

    def test_required_failing_create_passes_check(self):
        # --check validates plugins and options; create() runs only when starting.
        self.config({'name': 'moon', 'plugin': 'fixture-fails-create'})
        r = self.run_check()
        self.assertOk(r)
        self.assertIn('OK (2 sources, 1 sinks', r.stdout)

    def test_wrong_major_is_refused_by_check(self):
        major, minor = vigiltest.abi_version()
        path = self.write_config({
            'sources': [GOOD, {'name': 'old', 'plugin': 'fixture-wrong-major'}],
            'sinks': [self.log_sink()],
        })
        r = self.run_check()
        self.assertExit(r, 1)
        m = re.search(r'^%s:(\d+):(\d+): error: plugin \S+fixture-wrong-major\.so refused: (.*)$'
                      % re.escape(path), r.stderr, re.M)
        self.assertIsNotNone(m, r)
        # Line and column of the entry's `plugin:` value.
        line = self.read_file('vigil.yaml').splitlines()[int(m.group(1)) - 1]
        self.assertEqual(line[int(m.group(2)) - 1:], '"fixture-wrong-major"')
        # Both versions are named.
        self.assertIn('plugin ABI %d.%d' % (major + 1, minor), m.group(3))
        self.assertIn('this vigild speaks %d.%d' % (major, minor), m.group(3))

    def test_wrong_major_refused_at_start(self):
        self.config({'name': 'old', 'plugin': 'fixture-wrong-major'})
        r = self.run_once()
        self.assertExit(r, 1)
        self.assertRegex(r.stderr, r'fixture-wrong-major\.so refused: it was built for plugin ABI')
        self.assertEqual(self.alerts(), [])

    def test_wrong_major_optional_runs_the_others(self):
        self.config({'name': 'old', 'plugin': 'fixture-wrong-major', 'optional': True})
        r = self.run_check()
        self.assertOk(r)
        self.assertIn('OK (1 sources, 1 sinks', r.stdout)
        self.assertRegex(r.stderr, r'warning: old: optional, left out: .*refused: it was built '
                                   r'for plugin ABI')

        r = self.run_once()
        self.assertRegex(r.stderr, r'warning: old: optional, left out')
        self.assertEqual(self.alert_item_ids(), ['good-1'])

    def test_wrong_major_optional_once_exits_1(self):
        # docs/architecture.md: "`--once` still exits 1 when an optional source did not run."
        # An optional source whose plugin is refused did not run either.
        self.config({'name': 'old', 'plugin': 'fixture-wrong-major', 'optional': True})
        r = self.run_once()
        self.assertEqual(self.alert_item_ids(), ['good-1'])
        self.assertExit(r, 1)
        self.assertRegex(r.stderr, r'vigild: source old failed')

    def daemon_config(self, *sources):
        self.write_config({
            'defaults': {'interval': '1s', 'startup_spread': '1s'},
            'sources': [GOOD] + list(sources),
            'sinks': [self.log_sink()],
        })

    def test_reload_undone_when_a_required_source_fails_to_start(self):
        self.daemon_config()
        d = self.start_daemon(plugin_dirs=self.plugin_dirs)
        d.wait_log(r'info: good: poll ok')
        self.daemon_config({'name': 'moon', 'plugin': 'fixture-fails-create'},
                           {'name': 'extra', 'plugin': 'fixture-good', 'count': 2})
        d.signal(signal.SIGHUP)
        d.wait_log(r'error: moon: cannot reach the moon')
        d.wait_log(r'error: reload refused: an instance failed to start; '
                   r'the running configuration stays in force')
        # The old configuration keeps polling; nothing of the new one runs.
        d.wait_log(r'info: good: poll ok')
        d.wait_log(r'info: good: poll ok')
        self.assertEqual(d.matches(r'extra: poll'), [])
        self.assertEqual(len(d.matches(r'debug: good: started')), 1)
        self.assertEqual(d.stop(), 0)
        self.assertEqual(self.alert_item_ids(), ['good-1'])

    def test_reload_with_an_optional_source_failing_to_start(self):
        self.daemon_config()
        d = self.start_daemon(plugin_dirs=self.plugin_dirs)
        d.wait_log(r'info: good: poll ok')
        self.daemon_config({'name': 'moon', 'plugin': 'fixture-fails-create', 'optional': True},
                           {'name': 'extra', 'plugin': 'fixture-good', 'count': 2,
                            'alert_on_first_poll': True})
        d.signal(signal.SIGHUP)
        d.wait_log(r'warning: moon: optional: running without it until the next reload')
        d.wait_log(r'info: reloaded: 3 sources, 1 sinks')
        d.wait_log(r'info: extra: poll ok')
        d.wait_count(r'debug: out: alert \d+ delivered', 2)
        self.assertEqual(d.stop(), 0)
        self.assertEqual(sorted((a['source'], a['item']['id']) for a in self.alerts()),
                         [('extra', 'good-1'), ('good', 'good-1')])

    def test_missing_method_is_refused(self):
        self.config({'name': 'half', 'plugin': 'fixture-missing-method'})
        r = self.run_check()
        self.assertExit(r, 1)
        self.assertRegex(r.stderr, r'fixture-missing-method\.so refused: it is a \w+ plugin '
                                   r'without the required method')

    def test_no_entry_point_is_refused(self):
        self.config({'name': 'none', 'plugin': 'fixture-no-entry'})
        r = self.run_check()
        self.assertExit(r, 1)
        self.assertRegex(r.stderr, r'fixture-no-entry\.so is not a vigil plugin: it exports no '
                                   r'vigil_plugin_entry\(\)')

    def test_newer_minor_is_refused(self):
        major, minor = vigiltest.abi_version()
        self.config({'name': 'new', 'plugin': 'fixture-newer-minor'})
        r = self.run_check()
        self.assertExit(r, 1)
        self.assertIn('newer than this vigild\'s %d.%d' % (major, minor), r.stderr)

    def test_plugin_dir_search_order(self):
        # Plugins are found in every directory of the colon-separated list.
        self.config()
        r = self.once(plugin_dirs=[vigiltest.ABI_DIR, vigiltest.PLUGIN_DIR])
        self.assertOk(r)
        r = self.once(plugin_dirs=[vigiltest.PLUGIN_DIR])
        self.assertExit(r, 1)
        self.assertIn('no plugin "fixture-good": fixture-good.so not found in %s'
                      % vigiltest.PLUGIN_DIR, r.stderr)


if __name__ == '__main__':
    vigiltest.main()
