"""vigiltest - the harness of vigil's integration tests (Python 3 standard library only).

Each test gets its own temporary directory (``self.dir``) holding the
configuration, the state directory and the fixture server's docroot. The
programs under test come from the environment meson's test_env sets:

  VIGILD                      the vigild binary
  VIGIL_FIXTURE_SERVER        tests/fixture-server (``fixture-server DOCROOT``)
  VIGIL_PLUGIN_DIR            build/plugins
  VIGIL_TEST_ABI_DIR          build/tests/abi (fixture plugins of the abi suite)
  VIGIL_TEST_INTEGRATION_DIR  build/tests/integration (fixture-hang-sink.so)

Run outside meson, they default to the paths under ``<source>/build``
(or ``$VIGIL_BUILD_DIR``).

Everything listens on and talks to 127.0.0.1 only. Any program's stderr that
contains a sanitizer report fails the test (for AddressSanitizer builds).

Set VIGIL_TEST_KEEP=1 to keep the temporary directories of failed tests;
VIGIL_TEST_WAIT (default 20) and VIGIL_TEST_RUN_TIMEOUT (default 60) are the
seconds to wait for a log line and for a vigild run to finish.
"""

import calendar
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get('VIGIL_SOURCE_ROOT') or os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.environ.get('VIGIL_BUILD_DIR') or os.path.join(SOURCE_ROOT, 'build')

VIGILD = os.environ.get('VIGILD') or os.path.join(BUILD_DIR, 'daemon', 'vigild')
FIXTURE_SERVER = (os.environ.get('VIGIL_FIXTURE_SERVER')
                  or os.path.join(BUILD_DIR, 'tests', 'fixture-server'))
PLUGIN_DIR = os.environ.get('VIGIL_PLUGIN_DIR') or os.path.join(BUILD_DIR, 'plugins')
ABI_DIR = os.environ.get('VIGIL_TEST_ABI_DIR') or os.path.join(BUILD_DIR, 'tests', 'abi')
INTEGRATION_DIR = (os.environ.get('VIGIL_TEST_INTEGRATION_DIR')
                   or os.path.join(BUILD_DIR, 'tests', 'integration'))

# Generous: sanitizer builds are several times slower, CI machines are busy.
EVERY_ITEM_RULES = '''\
rules:
  - name: every item
    description: every item (the integration tests' catch-all)
    cooldown: 0
    match:
      fields: [id, link, title]
      regex: "."
'''

WAIT = float(os.environ.get('VIGIL_TEST_WAIT', '20'))
RUN_TIMEOUT = float(os.environ.get('VIGIL_TEST_RUN_TIMEOUT', '60'))

SANITIZER_MARKERS = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:')

# "1d2h3m4s5ms" as printed by vigild's duration_format().
_DURATION_PART = re.compile(r'(\d+)(ms|d|h|m|s)')
_DURATION_MS = {'d': 86400000, 'h': 3600000, 'm': 60000, 's': 1000, 'ms': 1}


def parse_duration_ms(text):
    """Milliseconds of a vigild duration like "1s52ms" or "2m"; ValueError otherwise."""
    if not re.fullmatch(r'(?:\d+(?:ms|d|h|m|s))+', text):
        raise ValueError('not a vigild duration: %r' % text)
    return sum(int(n) * _DURATION_MS[u] for n, u in _DURATION_PART.findall(text))


_STAMP = re.compile(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d{3}) ')


def read_line(fd, timeout):
    """One line (bytes) from a pipe; None after `timeout` seconds, what came at its end."""
    buf = b''
    deadline = time.monotonic() + timeout
    while not buf.endswith(b'\n'):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1)
        if not chunk:
            return buf or None
        buf += chunk
    return buf


def wait_until(cond, what, timeout=None, interval=0.05):
    """Poll cond() until it holds; AssertionError(what, or what() if callable) after
    `timeout` seconds (default WAIT)."""
    deadline = time.monotonic() + (WAIT if timeout is None else timeout)
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(what() if callable(what) else what)
        time.sleep(interval)


def log_time(line_or_match):
    """Unix seconds (float) of a vigild log line's time stamp (vigild runs with TZ=UTC)."""
    line = line_or_match.string if hasattr(line_or_match, 'string') else line_or_match
    m = _STAMP.match(line)
    if not m:
        raise ValueError('no time stamp in log line %r' % line)
    return (calendar.timegm(time.strptime(m.group(1), '%Y-%m-%d %H:%M:%S'))
            + int(m.group(2)) / 1000)


def abi_version():
    """(major, minor) of the plugin ABI this vigild speaks, from `vigild --version`."""
    out = subprocess.run([VIGILD, '--version'], capture_output=True, text=True,
                         timeout=RUN_TIMEOUT).stdout
    m = re.search(r'plugin ABI (\d+)\.(\d+)', out)
    if not m:
        raise RuntimeError('cannot read the ABI version from vigild --version: %r' % out)
    return int(m.group(1)), int(m.group(2))


def sanitizer_report(text):
    """The first sanitizer marker found in text, or None."""
    for marker in SANITIZER_MARKERS:
        if marker in text:
            return marker
    return None


# ---- YAML ----------------------------------------------------------------

def _yaml_scalar(v):
    if v is True:
        return 'true'
    if v is False:
        return 'false'
    if v is None:
        return 'null'
    if isinstance(v, (int, float)):
        return str(v)
    # A JSON string is a valid YAML double-quoted scalar.
    return json.dumps(str(v), ensure_ascii=False)


def _yaml_lines(value, indent):
    pad = ' ' * indent
    lines = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines.append('%s%s:' % (pad, k))
                lines.extend(_yaml_lines(v, indent + 2))
            elif isinstance(v, dict):
                lines.append('%s%s: {}' % (pad, k))
            elif isinstance(v, list):
                lines.append('%s%s: []' % (pad, k))
            else:
                lines.append('%s%s: %s' % (pad, k, _yaml_scalar(v)))
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)) and item:
                sub = _yaml_lines(item, indent + 2)
                sub[0] = '%s- %s' % (pad, sub[0][indent + 2:])
                lines.extend(sub)
            else:
                lines.append('%s- %s' % (pad, _yaml_scalar(item)))
    else:
        lines.append(pad + _yaml_scalar(value))
    return lines


def to_yaml(value):
    """Block-style YAML of dicts, lists and scalars (keys in insertion order)."""
    return '\n'.join(_yaml_lines(value, 0)) + '\n'


# ---- results ---------------------------------------------------------------

class Result:
    """A finished vigild run."""

    def __init__(self, args, returncode, stdout, stderr):
        self.args = args
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    def __repr__(self):
        return ('<vigild %s: exit %s>\n--- stdout ---\n%s--- stderr ---\n%s'
                % (' '.join(self.args), self.returncode, self.stdout, self.stderr))


# ---- the fixture server ----------------------------------------------------

class FixtureServer:
    """tests/fixture-server on 127.0.0.1 serving `docroot` (see fixture-server.h)."""

    def __init__(self, docroot, log_path):
        self.docroot = docroot
        os.makedirs(docroot, exist_ok=True)
        self._log = open(log_path, 'wb')
        self.log_path = log_path
        # stdin is a pipe: when it closes (we stop, or die), the server exits.
        self.proc = subprocess.Popen([FIXTURE_SERVER, docroot], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self._log)
        line = self._read_line(WAIT)
        m = re.fullmatch(rb'PORT (\d+)\s*', line or b'')
        if not m:
            self.stop()
            raise RuntimeError('fixture-server did not print its port (got %r); log: %s'
                               % (line, self.log()))
        self.port = int(m.group(1))
        self.base = 'http://127.0.0.1:%d' % self.port

    def _read_line(self, timeout):
        return read_line(self.proc.stdout.fileno(), timeout)

    def url(self, path):
        return self.base + (path if path.startswith('/') else '/' + path)

    def file_url(self, name):
        return self.url('/files/' + name)

    def path(self, name):
        return os.path.join(self.docroot, name)

    def write(self, name, content, mtime=None):
        """Write docroot/name (str or bytes). Atomic: the server never sees half a file."""
        data = content.encode() if isinstance(content, str) else content
        path = self.path(name)
        tmp = path + '.tmp'
        with open(tmp, 'wb') as f:
            f.write(data)
        if mtime is not None:
            os.utime(tmp, (mtime, mtime))
        os.replace(tmp, path)

    def write_items(self, name, items, mtime=None):
        """Write items (dicts) as JSON Lines."""
        self.write(name, ''.join(json.dumps(i) + '\n' for i in items), mtime=mtime)

    def remove(self, name):
        os.unlink(self.path(name))

    def get(self, path, timeout=10):
        with urllib.request.urlopen(self.url(path), timeout=timeout) as r:
            return r.read()

    def hits(self):
        """{path: requests received}, query strings excluded."""
        return json.loads(self.get('/hits'))

    def hit_count(self, path):
        return self.hits().get(path, 0)

    def log(self):
        if not self._log.closed:
            self._log.flush()
        with open(self.log_path, 'rb') as f:
            return f.read().decode(errors='replace')

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self._log.close()


# ---- vigild running in the background --------------------------------------

class Daemon:
    """A vigild started in the background (-v), its log read as it grows."""

    def __init__(self, args, env, cwd, log_path, out_path):
        self.args = args
        self.log_path = log_path
        self.out_path = out_path
        self._err = open(log_path, 'wb')
        self._out = open(out_path, 'wb')
        self.proc = subprocess.Popen(args, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=self._out, stderr=self._err)
        self.pos = 0              # where the next wait_log() starts looking
        self.returncode = None

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        with open(self.log_path, 'rb') as f:
            return f.read().decode(errors='replace')

    def stdout(self):
        with open(self.out_path, 'rb') as f:
            return f.read().decode(errors='replace')

    def wait_log(self, pattern, timeout=None, since=None):
        """
        Wait for a log line matching `pattern` (a regex, searched line by line)
        after the position `since` (default: after the previous match). Returns
        the match and moves past its line. Fails (AssertionError) on timeout or
        when vigild exits without having logged it.
        """
        rx = re.compile(pattern)
        timeout = WAIT if timeout is None else timeout
        start = self.pos if since is None else since
        deadline = time.monotonic() + timeout
        while True:
            exited = self.proc.poll() is not None
            text = self.log()
            offset = start
            for line in text[start:].splitlines(keepends=True):
                if not line.endswith('\n') and not exited:
                    break     # a line still being written
                m = rx.search(line)
                if m:
                    self.pos = offset + len(line)
                    return m
                offset += len(line)
            if exited:
                raise AssertionError('vigild exited (%s) before logging /%s/; log:\n%s'
                                     % (self.proc.returncode, pattern, text))
            if time.monotonic() >= deadline:
                raise AssertionError('vigild did not log /%s/ within %.0f s; log:\n%s'
                                     % (pattern, timeout, text))
            time.sleep(0.02)

    def wait_logs(self, pattern, count, timeout=None):
        """count successive matches of pattern (each after the previous)."""
        return [self.wait_log(pattern, timeout=timeout) for _ in range(count)]

    def matches(self, pattern):
        """Every complete log line matching pattern so far, as match objects."""
        rx = re.compile(pattern)
        out = []
        for line in self.log().splitlines(keepends=True):
            if line.endswith('\n'):
                m = rx.search(line)
                if m:
                    out.append(m)
        return out

    def wait_count(self, pattern, count, timeout=None):
        """
        Wait until `count` log lines (from the start of the log) match pattern;
        returns the first `count` matches. For sources logging independently.
        """
        timeout = WAIT if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            exited = self.proc.poll() is not None
            found = self.matches(pattern)
            if len(found) >= count:
                return found[:count]
            if exited:
                raise AssertionError('vigild exited (%s) after logging /%s/ %d of %d times; '
                                     'log:\n%s' % (self.proc.returncode, pattern, len(found),
                                                    count, self.log()))
            if time.monotonic() >= deadline:
                raise AssertionError('vigild logged /%s/ %d of %d times within %.0f s; log:\n%s'
                                     % (pattern, len(found), count, timeout, self.log()))
            time.sleep(0.02)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=None):
        """Wait for exit; returns the exit code. Kills and fails after timeout."""
        timeout = RUN_TIMEOUT if timeout is None else timeout
        try:
            self.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError('vigild did not exit within %s s; log:\n%s'
                                 % (timeout, self.log()))
        return self.returncode

    def stop(self, timeout=None):
        """SIGTERM and wait. Returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self):
        """SIGKILL and reap."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.returncode = self.proc.wait()
        return self.returncode

    def close(self):
        if self.proc.poll() is None:
            self.kill()
        self._err.close()
        self._out.close()


# ---- the test case -----------------------------------------------------------

class VigilTestCase(unittest.TestCase):
    """A temporary directory per test, a fixture server on demand, vigild runs."""

    maxDiff = None

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='vigil-it-%s-' % self._testMethodName)
        self.addCleanup(self._remove_dir)
        self.state_dir = os.path.join(self.dir, 'state')
        self.config_path = os.path.join(self.dir, 'vigil.yaml')
        self._server = None
        self._daemons = []
        # A configuration without `rules:` reads rules.d/ beside it: give every
        # test one rule that fires on every item (any id, link or title), with
        # no story cooldown, so the pipeline is what the tests observe.
        self.write_file('rules.d/every-item.yaml', EVERY_ITEM_RULES)

    def _remove_dir(self):
        keep = os.environ.get('VIGIL_TEST_KEEP') and not self._outcome_ok()
        if keep:
            sys.stderr.write('kept %s\n' % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _outcome_ok(self):
        outcome = getattr(self, '_outcome', None)
        result = getattr(outcome, 'result', None)
        if result is None:
            return True
        if any(test is self for test, _ in result.failures + result.errors):
            return False
        return getattr(outcome, 'success', True)

    # -- files --

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def write_file(self, name, text):
        path = self.path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + '.tmp'
        with open(tmp, 'w') as f:
            f.write(text)
        os.replace(tmp, path)
        return path

    def read_file(self, name, default=None):
        try:
            with open(self.path(name)) as f:
                return f.read()
        except FileNotFoundError:
            if default is None:
                raise
            return default

    # -- the fixture server --

    @property
    def server(self):
        """The test's fixture server, started on first use (docroot: <dir>/www)."""
        if self._server is None:
            self._server = FixtureServer(self.path('www'), self.path('fixture-server.log'))
            self.addCleanup(self._stop_server)
        return self._server

    def _stop_server(self):
        srv = self._server
        srv.stop()
        report = sanitizer_report(srv.log())
        if report:
            self.fail('fixture-server stderr has a sanitizer report (%s):\n%s'
                      % (report, srv.log()))

    # -- configuration --

    def write_config(self, config, name='vigil.yaml'):
        """
        Write a configuration: raw YAML text (used as is), or a dict turned
        into YAML, with `state_dir: state` added when it has none. Returns
        the absolute path.
        """
        if isinstance(config, dict):
            config = dict(config)
            if 'state_dir' not in config:
                config = {'state_dir': 'state', **config}
            config = to_yaml(config)
        return self.write_file(name, config)

    @staticmethod
    def jsonl_source(name, url, **extra):
        d = {'name': name, 'plugin': 'jsonl', 'url': url}
        d.update(extra)
        return d

    @staticmethod
    def log_sink(name='out', path='alerts.jsonl', **extra):
        d = {'name': name, 'plugin': 'log', 'path': path}
        d.update(extra)
        return d

    # -- running vigild --

    def env(self, plugin_dirs=None, extra=None):
        env = dict(os.environ)
        for var in ('VIGIL_CONFIG', 'VIGIL_LOG_LEVEL', 'JOURNAL_STREAM', 'NOTIFY_SOCKET',
                    'STATE_DIRECTORY', 'http_proxy', 'https_proxy', 'HTTP_PROXY',
                    'HTTPS_PROXY', 'ALL_PROXY', 'all_proxy'):
            env.pop(var, None)
        env['NO_PROXY'] = env['no_proxy'] = '127.0.0.1,localhost'
        env['HOME'] = self.dir
        env['TZ'] = 'UTC'         # log time stamps: see log_time()
        env['XDG_CONFIG_HOME'] = self.path('xdg-config')
        env['XDG_STATE_HOME'] = self.path('xdg-state')
        # The pid file (one vigild per runtime dir) stays inside the test's dir.
        env['XDG_RUNTIME_DIR'] = self.path('xdg-runtime')
        os.makedirs(env['XDG_RUNTIME_DIR'], mode=0o700, exist_ok=True)
        env.pop('RUNTIME_DIRECTORY', None)
        if plugin_dirs is None:
            plugin_dirs = [PLUGIN_DIR]
        env['VIGIL_PLUGIN_DIR'] = ':'.join(plugin_dirs)
        if extra:
            for k, v in extra.items():
                if v is None:
                    env.pop(k, None)
                else:
                    env[k] = v
        return env

    def _args(self, config, args):
        cmd = [VIGILD]
        if config is not False:
            cmd += ['-c', config or self.config_path]
        return cmd + list(args)

    def check_sanitizers(self, stderr, what='vigild'):
        report = sanitizer_report(stderr)
        if report:
            self.fail('%s stderr has a sanitizer report (%s):\n%s' % (what, report, stderr))

    def vigild(self, *args, config=None, timeout=None, plugin_dirs=None, env=None):
        """Run vigild to the end; returns a Result. `config` False: no -c."""
        cmd = self._args(config, args)
        try:
            p = subprocess.run(cmd, env=self.env(plugin_dirs, env), cwd=self.dir,
                               stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=RUN_TIMEOUT if timeout is None else timeout)
        except subprocess.TimeoutExpired as e:
            err = e.stderr.decode(errors='replace') if e.stderr else ''
            self.fail('%s did not finish within %s s; stderr:\n%s' % (' '.join(cmd),
                                                                    e.timeout, err))
        r = Result(cmd, p.returncode, p.stdout.decode(errors='replace'),
                   p.stderr.decode(errors='replace'))
        self.check_sanitizers(r.stderr)
        return r

    def once(self, *args, **kw):
        return self.vigild('--once', *args, **kw)

    def check(self, *args, **kw):
        return self.vigild('--check', *args, **kw)

    def list_alerts(self, *args, **kw):
        return self.vigild('--list-alerts', *args, **kw)

    def start_daemon(self, *args, config=None, plugin_dirs=None, env=None, verbose=True):
        """Start vigild in the background (with -v); stopped at the end of the test."""
        cmd = self._args(config, (['-v'] if verbose else []) + list(args))
        n = len(self._daemons)
        d = Daemon(cmd, self.env(plugin_dirs, env), self.dir,
                   self.path('vigild-%d.log' % n), self.path('vigild-%d.out' % n))
        self._daemons.append(d)
        self.addCleanup(self._finish_daemon, d)
        return d

    def _finish_daemon(self, d):
        d.close()
        self.check_sanitizers(d.log(), 'vigild (background)')

    # -- assertions --

    def assertExit(self, result, code):
        self.assertEqual(result.returncode, code, 'unexpected exit code: %r' % result)

    def assertOk(self, result):
        self.assertExit(result, 0)

    def alerts(self, name='alerts.jsonl'):
        """The alert objects a log sink wrote to <dir>/name ([] if none)."""
        text = self.read_file(name, default='')
        out = []
        for n, line in enumerate(text.splitlines(), 1):
            try:
                out.append(json.loads(line))
            except ValueError as e:
                self.fail('%s line %d is not JSON (%s): %r' % (name, n, e, line))
        return out

    def alert_item_ids(self, name='alerts.jsonl'):
        return [a['item'].get('id') for a in self.alerts(name)]


def main():
    """unittest.main() with verbose output; exits non-zero on failure."""
    for path, what in ((VIGILD, 'VIGILD'), (FIXTURE_SERVER, 'VIGIL_FIXTURE_SERVER')):
        if not os.access(path, os.X_OK):
            sys.stderr.write('%s not found or not executable: %s (build first, or set $%s)\n'
                             % (what, path, what))
            sys.exit(2)
    unittest.main(verbosity=2)


# ---- the webhook receiver ------------------------------------------------------

WEBHOOK_RECEIVER = (os.environ.get('VIGIL_WEBHOOK_RECEIVER')
                    or os.path.join(BUILD_DIR, 'tests', 'webhook-receiver'))


class WebhookReceiver(FixtureServer):
    """
    tests/webhook-receiver on 127.0.0.1 (routes in its header comment): checks
    Standard Webhooks signatures with `secret`, records every delivery, fails
    or answers slowly on request. Started like the fixture server (PORT line,
    stops when its stdin closes); stop() it, or let the test's cleanup do it.
    """

    def __init__(self, log_path, secret=None, fail=None, status=None, retry_after=None,
                 delay_ms=None):
        args = [WEBHOOK_RECEIVER]
        for flag, value in (('--secret', secret), ('--fail', fail), ('--status', status),
                            ('--retry-after', retry_after), ('--delay', delay_ms)):
            if value is not None:
                args += [flag, str(value)]
        self._log = open(log_path, 'wb')
        self.log_path = log_path
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log)
        line = self._read_line(WAIT)
        m = re.fullmatch(rb'PORT (\d+)\s*', line or b'')
        if not m:
            self.stop()
            raise RuntimeError('webhook-receiver did not print its port (got %r); log: %s'
                               % (line, self.log()))
        self.port = int(m.group(1))
        self.base = 'http://127.0.0.1:%d' % self.port

    def _post(self, path, timeout=10):
        req = urllib.request.Request(self.url(path), data=b'', method='POST')
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())

    def deliveries(self):
        """Every delivery so far (dicts, see the receiver's header comment), oldest first."""
        return json.loads(self.get('/deliveries'))

    def control(self, **params):
        """Change behaviour: fail=N (-1: always), status=, retry_after=, delay=, ok_status=."""
        query = '&'.join('%s=%s' % (k, v) for k, v in params.items())
        return self._post('/control?' + query)

    def reset(self):
        self._post('/reset')

    def wait_deliveries(self, count, timeout=None):
        """Wait until at least `count` deliveries arrived; returns them all."""
        deadline = time.monotonic() + (WAIT if timeout is None else timeout)
        while True:
            got = self.deliveries()
            if len(got) >= count:
                return got
            if time.monotonic() >= deadline:
                raise AssertionError('webhook-receiver got %d of %d deliveries: %r'
                                     % (len(got), count, got))
            time.sleep(0.05)
