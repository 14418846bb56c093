#!/usr/bin/env python3
"""The notify sink in a private desktop session (dbus-daemon, Xvfb, dunst): text, urgency, actions, outages."""

import html
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib

import vigiltest
from vigiltest import VigilTestCase

NEEDED = ('dbus-daemon', 'Xvfb', 'dunst', 'dunstctl', 'dbus-send')
MISSING = [p for p in NEEDED if not shutil.which(p)]

# A session bus of our own that activates nothing: a notification server
# exists only when a test starts one.
BUS_CONF = '''<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
'''

# dunst shows the urgency and the icon name in "message", so history tells
# them; each urgency has its own default display time (seconds) to tell the
# server's default from the plugin's `expire`.
DUNSTRC = '''[global]
    notification_limit = 0
    history_length = 100
    markup = {markup}
    icon_path = {icons}
[urgency_low]
    timeout = 111
    format = "low|%s|%b|%I"
[urgency_normal]
    timeout = 222
    format = "normal|%s|%b|%I"
[urgency_critical]
    timeout = 333
    format = "critical|%s|%b|%I"
'''

US = 1000000                    # dunst's times are in microseconds


def write_png(path):
    """A valid 1x1 PNG (dunst resolves icon names to image files)."""
    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data
                + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff))
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n'
                + chunk(b'IHDR', struct.pack('>IIBBBBB', 1, 1, 8, 6, 0, 0, 0))
                + chunk(b'IDAT', zlib.compress(b'\x00\xff\x00\x00\xff'))
                + chunk(b'IEND', b''))


def visible(markup):
    """What a Pango-markup body shows: tags dropped, entities read."""
    return html.unescape(re.sub(r'<[^>]*>', '', markup))


def read_line(fd, timeout):
    """One line (text) from a pipe, or None after `timeout` seconds."""
    line = vigiltest.read_line(fd, timeout)
    return line.decode() if line is not None else None


class Session:
    """A private desktop session: a session bus at <dir>/bus, an X server, dunst."""

    def __init__(self, test):
        self.test = test
        self.dir = test.path('session')
        os.makedirs(self.dir, exist_ok=True)
        self.bus_path = os.path.join(self.dir, 'bus')
        self.address = 'unix:path=' + self.bus_path
        self.icons = os.path.join(self.dir, 'icons')
        os.makedirs(self.icons, exist_ok=True)
        for name in ('dialog-information', 'dialog-warning', 'custom'):
            write_png(os.path.join(self.icons, name + '.png'))
        self.bus = self.x = self.dunst = None
        self.display = None
        self.dunst_log = os.path.join(self.dir, 'dunst.log')
        test.addCleanup(self.close)

    def env(self):
        env = dict(os.environ)
        env['DBUS_SESSION_BUS_ADDRESS'] = self.address
        env['DISPLAY'] = self.display or ''
        return env

    def start_bus(self):
        conf = os.path.join(self.dir, 'bus.conf')
        with open(conf, 'w') as f:
            f.write(BUS_CONF.format(path=self.bus_path))
        self.bus = subprocess.Popen(['dbus-daemon', '--config-file=' + conf, '--nofork',
                                     '--print-address=1'],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = read_line(self.bus.stdout.fileno(), vigiltest.WAIT)
        if not line or not line.startswith('unix:path=' + self.bus_path):
            raise RuntimeError('dbus-daemon did not start (printed %r)' % line)

    def start_x(self):
        r, w = os.pipe()
        try:
            self.x = subprocess.Popen(['Xvfb', '-displayfd', str(w), '-nolisten', 'tcp',
                                       '-screen', '0', '800x600x24'],
                                      pass_fds=(w,), stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            os.close(w)
            w = None
            line = read_line(r, vigiltest.WAIT)
        finally:
            if w is not None:
                os.close(w)
            os.close(r)
        if not line or not line.strip().isdigit():
            raise RuntimeError('Xvfb did not report a display (got %r)' % line)
        self.display = ':' + line.strip()

    def start_dunst(self, markup='full'):
        rc = os.path.join(self.dir, 'dunstrc')
        with open(rc, 'w') as f:
            f.write(DUNSTRC.format(markup=markup, icons=self.icons))
        self._dunst_out = open(self.dunst_log, 'ab')
        self.dunst = subprocess.Popen(['dunst', '-config', rc], env=self.env(),
                                      stdout=self._dunst_out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + vigiltest.WAIT
        while self.ctl('is-paused', check=False).returncode != 0:
            if self.dunst.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError('dunst did not come up; log:\n' + self.log())
            time.sleep(0.05)

    def log(self):
        try:
            with open(self.dunst_log, errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def ctl(self, *args, check=True):
        p = subprocess.run(['dunstctl'] + list(args), env=self.env(), capture_output=True,
                           text=True, timeout=vigiltest.WAIT)
        if check and p.returncode != 0:
            raise AssertionError('dunstctl %s failed: %s' % (' '.join(args), p.stderr))
        return p

    def displayed(self):
        return int(self.ctl('count', 'displayed').stdout.strip() or 0)

    def wait_displayed(self, n, timeout=None):
        vigiltest.wait_until(lambda: self.displayed() >= n,
                             lambda: 'dunst shows %d notifications, expected %d'
                             % (self.displayed(), n), timeout)

    def history(self):
        """Close what is shown and return dunst's history: {summary: {field: value}}."""
        self.ctl('close-all')
        time.sleep(0.1)
        data = json.loads(self.ctl('history').stdout)['data'][0]
        out = {}
        for n in data:
            n = {k: v['data'] for k, v in n.items()}
            self.test.assertNotIn(n['summary'], out, 'shown twice: %r' % n['summary'])
            out[n['summary']] = n
        return out

    def name_has_owner(self, name):
        p = subprocess.run(['dbus-send', '--session', '--print-reply',
                            '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus',
                            'org.freedesktop.DBus.NameHasOwner', 'string:' + name],
                           env=self.env(), capture_output=True, text=True,
                           timeout=vigiltest.WAIT, check=True)
        return 'boolean true' in p.stdout

    def names_of(self, pid):
        """The unique names on the bus of the process `pid`."""
        def call(method, *args):
            return subprocess.run(['dbus-send', '--session', '--print-reply',
                                   '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus',
                                   'org.freedesktop.DBus.' + method] + list(args),
                                  env=self.env(), capture_output=True, text=True,
                                  timeout=vigiltest.WAIT)
        names = re.findall(r'string "(:[^"]+)"', call('ListNames').stdout)
        return [n for n in names
                if re.search(r'uint32 %d\b' % pid,
                             call('GetConnectionUnixProcessID', 'string:' + n).stdout)]

    def stop_dunst(self):
        if self.dunst and self.dunst.poll() is None:
            self.dunst.terminate()
            self.dunst.wait(timeout=10)
        self.dunst = None

    def close(self):
        self.stop_dunst()
        for p in (self.bus, self.x):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if self.bus:
            self.bus.stdout.close()
        if getattr(self, '_dunst_out', None):
            self._dunst_out.close()


class HangingServer:
    """
    A notification server that answers GetCapabilities and GetServerInformation
    but never Notify: a server hung mid-way. D-Bus spoken by hand (standard
    library only): EXTERNAL auth, Hello, RequestName, method returns.
    """

    def __init__(self, bus_path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(bus_path)
        self.serial = 0
        self.members = []           # method calls received, in order
        self.senders = []           # and who sent them (unique bus names)
        self.buf = b''
        self.sock.sendall(b'\0AUTH EXTERNAL ' + str(os.getuid()).encode().hex().encode()
                          + b'\r\n')
        if not self._read_until(b'\r\n').startswith(b'OK '):
            raise RuntimeError('bus refused authentication')
        self.sock.sendall(b'BEGIN\r\n')
        self._call('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                   'Hello')
        body = self._pad(self._string('org.freedesktop.Notifications'), 4) + struct.pack('<I', 4)
        self._call('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                   'RequestName', 'su', body)
        self.owned = threading.Event()
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        if not self.owned.wait(vigiltest.WAIT):
            raise RuntimeError('HangingServer did not get the name')

    def _read_until(self, end):
        while end not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(end, 1)
        return line + end

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    @staticmethod
    def _pad(data, n):
        return data + b'\0' * (-len(data) % n)

    @staticmethod
    def _string(s):
        raw = s.encode()
        return struct.pack('<I', len(raw)) + raw + b'\0'

    def _message(self, kind, fields, signature='', body=b'', flags=0):
        """fields: [(code, type char, value)]"""
        self.serial += 1
        head = b'l' + bytes([kind, flags, 1]) + struct.pack('<II', len(body), self.serial)
        arr = b''
        if signature:
            fields = fields + [(8, 'g', signature)]
        for code, t, value in fields:
            arr = self._pad(arr, 8)
            arr += bytes([code, 1]) + t.encode() + b'\0'
            # offset of the value within the message: 16 + len(arr) (array starts at 16)
            if t in 'so':
                arr = arr + b'\0' * (-(16 + len(arr)) % 4) + self._string(value)
            elif t == 'u':
                arr = arr + b'\0' * (-(16 + len(arr)) % 4) + struct.pack('<I', value)
            elif t == 'g':
                arr += bytes([len(value)]) + value.encode() + b'\0'
        msg = head + struct.pack('<I', len(arr)) + arr
        return self._pad(msg, 8) + body

    def _call(self, dest, path, iface, member, signature='', body=b''):
        self.sock.sendall(self._message(1, [(1, 'o', path), (2, 's', iface), (3, 's', member),
                                            (6, 's', dest)], signature, body))

    def _reply(self, to_serial, to, signature, body):
        self.sock.sendall(self._message(2, [(5, 'u', to_serial), (6, 's', to)], signature,
                                        body, flags=1))

    def _next(self):
        """(type, serial, {field code: value}) of the next message."""
        fixed = self._read(16)
        order = '<' if fixed[0:1] == b'l' else '>'
        kind = fixed[1]
        body_len, serial, arr_len = struct.unpack(order + 'III', fixed[4:16])
        rest = self._read(arr_len + (-(16 + arr_len) % 8) + body_len)
        msg = fixed + rest
        fields = {}
        off = 16
        while off < 16 + arr_len:
            off += -off % 8
            code = msg[off]
            siglen = msg[off + 1]
            t = msg[off + 2:off + 2 + siglen].decode()
            off += 3 + siglen
            if t in ('s', 'o'):
                off += -off % 4
                n, = struct.unpack(order + 'I', msg[off:off + 4])
                fields[code] = msg[off + 4:off + 4 + n].decode()
                off += 5 + n
            elif t == 'u':
                off += -off % 4
                fields[code], = struct.unpack(order + 'I', msg[off:off + 4])
                off += 4
            elif t == 'g':
                n = msg[off]
                fields[code] = msg[off + 1:off + 1 + n].decode()
                off += 2 + n
            else:
                break           # not in messages sent to us here
        return kind, serial, fields

    def _serve(self):
        try:
            while not self.stopping:
                kind, serial, fields = self._next()
                member, sender = fields.get(3), fields.get(7)
                if kind == 4 and member == 'NameAcquired':
                    self.owned.set()
                if kind != 1 or fields.get(2, 'org.freedesktop.Notifications') \
                        != 'org.freedesktop.Notifications':
                    continue
                self.members.append(member)
                self.senders.append(sender)
                if member == 'GetCapabilities':
                    caps = b''
                    for c in ('body', 'actions'):
                        caps += b'\0' * (-(4 + len(caps)) % 4) + self._string(c)
                    self._reply(serial, sender, 'as', struct.pack('<I', len(caps)) + caps)
                elif member == 'GetServerInformation':
                    body = b''
                    for text in ('hang', 'vigil-tests', '1', '1.2'):
                        body = self._pad(body, 4) + self._string(text)
                    self._reply(serial, sender, 'ssss', body)
                # Notify and anything else: never answered.
        except (EOFError, OSError):
            pass

    def close(self):
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(10)
        self.sock.close()


@vigiltest.unittest.skipIf(MISSING, 'missing: %s' % ' '.join(MISSING))
class NotifyTest(VigilTestCase):

    def setUp(self):
        super().setUp()
        self.session = Session(self)
        self.session.start_x()

    def config(self, sink, *more_sinks, rules=None, items='items.jsonl', defaults=None):
        source = {'name': 'news', 'plugin': 'jsonl', 'path': items, 'interval': '1s',
                  'alert_on_first_poll': True}
        config = {'defaults': {'startup_spread': '100ms', **(defaults or {})},
                  'sources': [source], 'sinks': [sink] + list(more_sinks)}
        if rules:
            self.write_file('notify-rules.yaml', rules)
            config['rules'] = 'notify-rules.yaml'
        self.write_config(config)

    def write_items(self, items, name='items.jsonl'):
        self.write_file(name, ''.join(json.dumps(i) + '\n' for i in items))

    def desktop_env(self):
        return {'DBUS_SESSION_BUS_ADDRESS': self.session.address,
                'DISPLAY': self.session.display}

    def assert_shown_early(self, d, delivered, started, within):
        """
        Each `delivered` ("alert N delivered" matches, N in group 1) was logged
        within `within` seconds of `started` (time.time()) and well before the
        retry its last failure scheduled ("retry in Ns"): the plugin had the
        waiting alerts retried, rather than their backoff ending.
        """
        due = {}
        for m in d.matches(r'desk: alert (\d+): attempt \d+ failed .*; retry in (\d+)s$'):
            due[m.group(1)] = vigiltest.log_time(m) + int(m.group(2))
        for m in delivered:
            at = vigiltest.log_time(m)
            self.assertLess(at - started, within, m.string)
            self.assertLess(at, due[m.group(1)] - 3, 'shown only when its retry was due: '
                            + m.string)

    def wait_alerts(self, n, timeout=None):
        vigiltest.wait_until(lambda: len(self.alerts()) >= n,
                             lambda: 'the log sink has %d alerts, expected %d'
                             % (len(self.alerts()), n), timeout)
        return self.alerts()

    def test_plugin_help(self):
        r = self.vigild('--plugin-help', 'notify', config=False)
        self.assertOk(r)
        for key in ('icon', 'timeout', 'expire', 'app_name', 'actions'):
            self.assertRegex(r.stdout, r'\n  %s +\w' % key)

    def test_summary_body_urgency_icon(self):
        s = self.session
        s.start_bus()
        s.start_dunst(markup='full')
        self.write_items([
            {'id': '1', 'title': 'Alpha low', 'link': 'https://news.example/1',
             'summary': 'the  <b>low</b>\n& </script> text',
             'published': '2026-01-02T03:04:05Z'},
            {'id': '2', 'title': 'Bravo normal', 'summary': 'plain',
             'published': '2026-01-02T03:05:00Z'},
            {'id': '3', 'title': 'Charlie high', 'published': '2026-01-02T03:06:00Z'},
            {'id': '4', 'title': 'Delta critical', 'summary': 'all <i>hands</i>',
             'published': '2026-01-02T03:07:00Z'},
            # Long texts are cut by characters, not bytes.
            {'id': '5', 'title': 'normal ' + '\u00e9' * 300, 'summary': '\u00e9' * 500,
             'published': '2026-01-02T03:08:00Z'},
        ])
        rules = 'rules:\n' + ''.join(
            '  - name: %s\n    cooldown: 0\n    severity: %s\n'
            '    match: { fields: [title], any: [%s] }\n' % (name, sev, sev)
            for name, sev in (('quiet news', 'low'), ('news', 'normal'),
                              ('big news', 'high'), ('red alert', 'critical')))
        self.config({'name': 'desk', 'plugin': 'notify'}, rules=rules)
        self.assertOk(self.once(env=self.desktop_env()))
        s.wait_displayed(5)
        shown = s.history()
        long_summary = 'news: normal ' + '\u00e9' * (200 - 13) + '\u2026'
        self.assertEqual(sorted(shown), ['big news: Charlie high', 'news: Bravo normal',
                                         long_summary, 'quiet news: Alpha low',
                                         'red alert: Delta critical'])
        self.assertEqual(shown[long_summary]['body'],
                         '\u00e9' * 400 + '\u2026\nnews \u00b7 2026-01-02 03:08')
        for n in shown.values():
            self.assertEqual(n['appname'], 'vigil')

        low = shown['quiet news: Alpha low']
        # Markup server: the item's text escaped, so it shows as written.
        self.assertEqual(low['body'], 'the &lt;b&gt;low&lt;/b&gt; &amp; &lt;/script&gt; text\n'
                                      'news \u00b7 2026-01-02 03:04')
        self.assertEqual(visible(low['body']),
                         'the <b>low</b> & </script> text\nnews \u00b7 2026-01-02 03:04')
        self.assertEqual(visible(shown['red alert: Delta critical']['body']),
                         'all <i>hands</i>\nnews \u00b7 2026-01-02 03:07')
        self.assertEqual(shown['big news: Charlie high']['body'],
                         'news \u00b7 2026-01-02 03:06')
        self.assertNotIn('Unable to parse markup', s.log())

        # Urgency and icon (from dunst's format), display time (the server's
        # default per urgency, except critical: until dismissed).
        expect = {'quiet news: Alpha low': ('low', 'dialog-information', 111 * US),
                  'news: Bravo normal': ('normal', 'dialog-information', 222 * US),
                  'big news: Charlie high': ('normal', 'dialog-warning', 222 * US),
                  'red alert: Delta critical': ('critical', 'dialog-warning', 0)}
        for summary, (urgency, icon, timeout) in expect.items():
            n = shown[summary]
            self.assertTrue(n['message'].startswith(urgency + '|' + summary + '|'),
                            n['message'])
            self.assertTrue(n['message'].endswith('|' + icon), n['message'])
            self.assertEqual(n['timeout'], timeout, summary)

    def test_plain_server_open_action_expire_and_icon(self):
        s = self.session
        s.start_bus()
        s.start_dunst(markup='no')     # no "body-markup": the body goes as plain text
        opened = self.path('opened.txt')
        handler = self.write_file('open-url', '#!/bin/sh\nprintf "%%s\\n" "$1" >> %s\n' % opened)
        os.chmod(handler, 0o755)
        self.write_file('.local/share/applications/vigil-test-browser.desktop',
                        '[Desktop Entry]\nType=Application\nName=Test browser\n'
                        'Exec=%s %%u\nNoDisplay=true\n'
                        'MimeType=x-scheme-handler/http;x-scheme-handler/https;\n' % handler)
        self.write_file('xdg-config/mimeapps.list',
                        '[Default Applications]\n'
                        'x-scheme-handler/https=vigil-test-browser.desktop\n'
                        'x-scheme-handler/http=vigil-test-browser.desktop\n')
        link = 'https://news.example/echo?a=1&b=2'
        self.write_items([{'id': 'e', 'title': 'Echo <x>', 'summary': 'x <b>y</b> & z',
                           'link': link, 'published': '2026-01-02T03:04:05Z'}])
        icon = os.path.join(s.icons, 'custom.png')
        self.config({'name': 'desk', 'plugin': 'notify', 'expire': '7s', 'icon': icon})
        env = dict(self.desktop_env(), XDG_DATA_HOME=self.path('.local/share'))
        d = self.start_daemon(env=env)
        d.wait_log(r'desk: alert \d+ delivered')
        s.wait_displayed(1)

        s.ctl('action', '0')        # the user clicks it: the "default" action
        d.wait_log(r'desk: opened ' + re.escape(link) + '$')
        vigiltest.wait_until(lambda: os.path.exists(opened) and
                             self.read_file('opened.txt').endswith('\n'),
                             'the URL handler did not run')
        self.assertEqual(self.read_file('opened.txt'), link + '\n')

        n = s.history()['every item: Echo <x>']
        self.assertEqual(n['body'], 'x <b>y</b> & z\nnews \u00b7 2026-01-02 03:04')
        self.assertEqual(n['timeout'], 7 * US)
        self.assertTrue(n['message'].startswith('normal|'), n['message'])
        self.assertTrue(n['message'].endswith('|custom.png'), n['message'])
        self.assertEqual(d.stop(), 0)

    def test_no_bus_then_no_server_then_login(self):
        # vigild starts before the user logs in: no session bus at the
        # address yet. It keeps serving the log sink, says so once, and shows
        # the alerts as soon as a notification server is there, long before
        # their retries are due.
        s = self.session
        self.write_items([{'id': 'a', 'title': 'First'}, {'id': 'b', 'title': 'Second'}])
        self.config({'name': 'desk', 'plugin': 'notify', 'timeout': '2s'},
                    self.log_sink())
        d = self.start_daemon(env=self.desktop_env())
        d.wait_log(r'desk: cannot show desktop notifications: no D-Bus session bus at '
                   + re.escape(s.address) + r': .*; alerts wait in the outbox')
        d.wait_count(r'desk: alert \d+: attempt 1 failed \(no D-Bus session bus', 2)
        self.assertEqual(len(self.wait_alerts(2)), 2)

        # A bus, but nobody serving notifications on it yet: the first two
        # fail again at their retry, now 16 s to 24 s away; a third fails.
        s.start_bus()
        d.wait_count(r'desk: alert \d+: attempt 2 failed \(no notification server on the '
                     r'session bus', 2, timeout=vigiltest.WAIT + 12)
        self.write_items([{'id': 'a', 'title': 'First'}, {'id': 'b', 'title': 'Second'},
                          {'id': 'c', 'title': 'Third'}])
        self.assertEqual(self.wait_alerts(3)[2]['item']['id'], 'c')
        d.wait_log(r'desk: alert \d+: attempt 1 failed \(no notification server on the '
                   r'session bus')
        self.assertEqual(len(d.matches(r'cannot show desktop notifications')), 1)
        self.assertEqual(d.matches(r'desk: desktop notifications work again'), [])

        # The server appears: the plugin sees it and has all three retried now.
        started = time.time()
        s.start_dunst()
        d.wait_log(r'desk: desktop notifications work again; showing the alerts that waited',
                   timeout=15)
        d.wait_log(r'desk: 3 alerts waiting for a retry: trying now', timeout=5)
        delivered = d.wait_count(r'desk: alert (\d+) delivered', 3, timeout=15)
        self.assert_shown_early(d, delivered, started, within=10)
        s.wait_displayed(3)
        self.assertEqual(sorted(s.history()), ['every item: First', 'every item: Second',
                                               'every item: Third'])
        self.assertEqual(len(d.matches(r'cannot show desktop notifications')), 1)
        self.assertEqual(len(d.matches(r'desktop notifications work again')), 1)
        self.assertEqual(d.matches(r'desk: alert \d+: attempt 3 failed'), [])
        self.assertEqual(d.stop(), 0)

    def test_hung_server_times_out_and_the_loop_goes_on(self):
        s = self.session
        s.start_bus()
        hung = HangingServer(s.bus_path)
        self.addCleanup(hung.close)
        self.write_items([{'id': 'a', 'title': 'First'}])
        self.config({'name': 'desk', 'plugin': 'notify', 'timeout': '5s'},
                    self.log_sink())
        d = self.start_daemon(env=self.desktop_env())
        started = vigiltest.log_time(d.wait_log(r'desk: delivering alert \d+ \(attempt 1\)'))
        vigiltest.wait_until(lambda: 'Notify' in hung.members,
                             lambda: 'no Notify call: %r' % hung.members)

        # While Notify hangs, the loop serves the source and the log sink.
        self.write_items([{'id': 'a', 'title': 'First'}, {'id': 'b', 'title': 'Second'}])
        self.wait_alerts(2)
        self.assertEqual(d.matches(r'cannot show desktop notifications'), [])

        m = d.wait_log(r'desk: cannot show desktop notifications: the notification server '
                       r'did not answer within 5 s')
        waited = vigiltest.log_time(m) - started
        self.assertGreater(waited, 4.5)
        self.assertLess(waited, 8)
        # The blocked call was ended by closing vigild's bus connection.
        caller = hung.senders[hung.members.index('Notify')]
        vigiltest.wait_until(lambda: not s.name_has_owner(caller),
                             'vigild kept its hung connection', timeout=5)
        d.wait_count(r'desk: alert \d+: attempt 1 failed \(the notification server did not '
                     r'answer within 5 s\)', 2)

        # The watch reconnects within a few seconds and finds the hung server
        # still owning the name: that proves nothing, the alerts keep waiting.
        vigiltest.wait_until(lambda: s.names_of(d.pid), 'vigild did not connect again',
                             interval=0.1)
        time.sleep(1)
        self.assertEqual(d.matches(r'desktop notifications work again'), [])
        self.assertEqual(hung.members.count('GetCapabilities'), 1)

        # It is replaced by one that works: the plugin sees the name change
        # hands and has the alerts retried at once, reconnecting.
        hung.close()
        started = time.time()
        s.start_dunst()
        d.wait_log(r'desk: desktop notifications work again; showing the alerts that waited',
                   timeout=15)
        delivered = d.wait_count(r'desk: alert (\d+) delivered', 2, timeout=15)
        self.assert_shown_early(d, delivered, started, within=10)
        s.wait_displayed(2)
        self.assertEqual(sorted(s.history()), ['every item: First', 'every item: Second'])
        self.assertEqual(len(d.matches(r'cannot show desktop notifications')), 1)
        # The hung call was ended, not left to block the retries behind it.
        self.assertEqual(d.matches(r'desk: alert \d+: attempt 2 failed'), [])
        self.assertEqual(d.stop(), 0)

    def test_stop_while_a_call_hangs(self):
        # destroy() with libnotify blocked in Notify: the thread is ended at
        # once (its socket shut down), not after D-Bus's own 25 s; the
        # sanitizers see the exit.
        s = self.session
        s.start_bus()
        hung = HangingServer(s.bus_path)
        self.addCleanup(hung.close)
        self.write_items([{'id': 'a', 'title': 'First'}])
        self.config({'name': 'desk', 'plugin': 'notify', 'timeout': '1m'},
                    defaults={'shutdown_timeout': '1s'})
        d = self.start_daemon(env=self.desktop_env())
        vigiltest.wait_until(lambda: 'Notify' in hung.members,
                             lambda: 'no Notify call: %r' % hung.members)
        t0 = time.monotonic()
        self.assertEqual(d.stop(timeout=20), 0)
        self.assertLess(time.monotonic() - t0, 6)
        self.assertNotRegex(d.log(), r'desk: alert \d+ delivered')

    def test_reload_replaces_the_instance(self):
        # A reload makes the new instance before it ends the old one: both
        # share the notify thread for a moment; the new options apply.
        s = self.session
        s.start_bus()
        s.start_dunst()
        self.write_items([{'id': 'a', 'title': 'First'}])
        self.config({'name': 'desk', 'plugin': 'notify'})
        d = self.start_daemon(env=self.desktop_env())
        d.wait_log(r'desk: alert \d+ delivered')
        self.config({'name': 'desk', 'plugin': 'notify', 'app_name': 'vigil-two'})
        d.signal(signal.SIGHUP)
        d.wait_log(r'info: reloaded')
        self.write_items([{'id': 'a', 'title': 'First'}, {'id': 'b', 'title': 'Second'}])
        d.wait_log(r'desk: alert \d+ delivered')
        s.wait_displayed(2)
        shown = s.history()
        self.assertEqual(shown['every item: First']['appname'], 'vigil')
        self.assertEqual(shown['every item: Second']['appname'], 'vigil-two')
        self.assertEqual(d.stop(), 0)

    def test_reload_and_stop_while_waiting_for_a_server(self):
        # The watch for a server runs (a bus, no server) when a reload
        # replaces the instance and when vigild stops: it ends with the
        # instances, and the sanitizers see the exit.
        s = self.session
        s.start_bus()
        self.write_items([{'id': 'a', 'title': 'First'}])
        self.config({'name': 'desk', 'plugin': 'notify', 'timeout': '2s'})
        d = self.start_daemon(env=self.desktop_env())
        d.wait_log(r'desk: alert \d+: attempt 1 failed \(no notification server')
        self.config({'name': 'desk', 'plugin': 'notify', 'timeout': '2s',
                     'app_name': 'vigil-two'})
        d.signal(signal.SIGHUP)
        d.wait_log(r'info: reloaded')
        self.write_items([{'id': 'a', 'title': 'First'}, {'id': 'b', 'title': 'Second'}])
        d.wait_log(r'desk: cannot show desktop notifications: no notification server')
        d.wait_log(r'desk: alert \d+: attempt 1 failed \(no notification server')

        # The new instance is told, and retries the alert of the old one too.
        started = time.time()
        s.start_dunst()
        d.wait_log(r'desk: desktop notifications work again; showing the alerts that waited',
                   timeout=15)
        delivered = d.wait_count(r'desk: alert (\d+) delivered', 2, timeout=15)
        self.assert_shown_early(d, delivered, started, within=10)
        s.wait_displayed(2)
        self.assertEqual({k: v['appname'] for k, v in s.history().items()},
                         {'every item: First': 'vigil-two', 'every item: Second': 'vigil-two'})

        s.stop_dunst()
        self.write_items([{'id': 'a', 'title': 'First'}, {'id': 'b', 'title': 'Second'},
                          {'id': 'c', 'title': 'Third'}])
        d.wait_log(r'desk: cannot show desktop notifications: no notification server')
        t0 = time.monotonic()
        self.assertEqual(d.stop(timeout=20), 0)
        self.assertLess(time.monotonic() - t0, 6)

    def test_logout_does_not_stop_vigild(self):
        # GLib's shared session connection raises SIGTERM when its bus goes
        # away; vigild outlives the session and waits for the next one.
        s = self.session
        s.start_bus()
        s.start_dunst()
        self.write_items([{'id': 'a', 'title': 'First'}])
        self.config({'name': 'desk', 'plugin': 'notify'})
        d = self.start_daemon(env=self.desktop_env())
        d.wait_log(r'desk: alert \d+ delivered')
        s.stop_dunst()
        s.bus.terminate()
        s.bus.wait(timeout=10)
        self.write_items([{'id': 'a', 'title': 'First'}, {'id': 'b', 'title': 'Second'}])
        d.wait_log(r'desk: cannot show desktop notifications: (no D-Bus session bus|lost the '
                   r'session bus connection)')
        d.wait_log(r'info: news: poll ok')
        self.assertIsNone(d.proc.poll())
        self.assertNotIn('SIGTERM', d.log())
        self.assertEqual(d.stop(), 0)


if __name__ == '__main__':
    if MISSING:
        sys.stderr.write('skipped: missing %s\n' % ' '.join(MISSING))
        sys.exit(77)
    vigiltest.main()
