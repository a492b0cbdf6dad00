"""The web portal (issue 18) end to end: real authd, smtpd, queued, imapd,
webd and PostgreSQL; dnsmasq serving the MX of remote.test on loopback and
aiosmtpd as that MX (451 first, then 250); headless Chromium driven by
chromedriver (Debian's chromium, chromium-driver, python3-selenium).

A user signs in in the browser (keyboard only), submits one message to a
local and one to a remote recipient over SMTP submission, and watches both
reach "delivered" on the "Sent mail" page without a reload. An administrator
views a queued message (its <script> as text), removes a user and a domain
after the confirmation page, sets and clears a catch-all (checked over SMTP and
IMAP), gives a user a 2-message limit (the third message over SMTP is deferred
by queued for the message count quota until the limit is emptied), and a user
pages through more than 50 sent messages. The security
rules are checked over plain HTTPS (http.client): CSRF, Origin, another
user's messages, session rotation and logout, the password policy, brute
force throttling. Screenshots go to <build>/Testing/artifacts/web_portal/.
"""
from __future__ import annotations

import http.client
import http.server
import imaplib
import json
import secrets
import re
import shutil
import smtplib
import ssl
import threading
import urllib.parse

import pytest

from dns_support import dnsmasq
from platform_support import build_dir, free_port, server_tls_context, wait_until
from queue_support import subjects

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")

USER = "anna@example.test"
PASSWORD = "portal test password 1"
LOCAL_RCPT = "bob@example.test"
OTHER = "carol@example.test"
OTHER_PASSWORD = "portal test password 2"
ADMIN = "root@example.test"
ADMIN_PASSWORD = "portal admin password 3"
CREATED = "dora@example.test"
CREATED_PASSWORD = "made in the browser 4"
REMOTE_RCPT = "rita@remote.test"
STUCK_RCPT = "stuck@remote.test"  # the MX always defers it: a message that stays in the queue
VIEW_RCPT = "view@remote.test"  # deferred too: the message an administrator views
PAGER = "pat@example.test"  # sends more than a page of messages
PAGER_PASSWORD = "paging test password 5"
REMOVED = "ernie@example.test"  # removed in the browser
REMOVED_PASSWORD = "removed in the browser 6"
GONE_DOMAIN = "gone.test"  # a domain removed with what it holds
LIMITED = "lena@example.test"  # given a 2-message limit in the browser
LIMITED_PASSWORD = "two messages only 7"
# A hosted domain for the DNS page, and the mail server's name webd makes its records with.
ZONE_DOMAIN = "zone.test"
ZONE_HOST = "mail.zone.test"
# Markup in a stored subject must come back as text.
SUBJECT = "<script>document.title='owned'</script> portal <b>test</b>"
ARTIFACTS = build_dir() / "Testing" / "artifacts" / "web_portal"
# authd's per-IP throttle, low so the brute-force test (last) is quick; every
# test before it stays well under it (all requests come from 127.0.0.1).
THROTTLE_ENV = {
    "POSTLINE_AUTH_THROTTLE_IP_DELAY_AFTER": "6",
    "POSTLINE_AUTH_THROTTLE_IP_BLOCK_AFTER": "8",
    "POSTLINE_AUTH_THROTTLE_MAX_DELAY": "1s",
    "POSTLINE_AUTH_THROTTLE_ACCOUNT_DELAY_AFTER": "50",
}


class ScriptedMx:
    """aiosmtpd handler: RCPT of REMOTE_RCPT gets 451 once, then 250."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rcpt_replies = ["451 4.7.1 greylisted, try again later"]
        self.received: list[list[str]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in (STUCK_RCPT, VIEW_RCPT):
            return "451 4.3.0 try again much later"
        with self.lock:
            reply = self.rcpt_replies.pop(0) if self.rcpt_replies else "250 2.1.5 OK"
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.received.append(list(envelope.rcpt_tos))
        return "250 2.0.0 OK queued"


@pytest.fixture(scope="module")
def dns():
    with dnsmasq(["--mx-host=remote.test,mx.remote.test,10", "--host-record=mx.remote.test,127.0.0.1",
                  # zone.test, for the DNS page: the MX is right, the SPF record is wrong.
                  f"--mx-host={ZONE_DOMAIN},{ZONE_HOST},10", f"--host-record={ZONE_HOST},127.0.0.2",
                  f"--txt-record={ZONE_DOMAIN},v=spf1 -all"],
                 probe="mx.remote.test") as address:
        yield address


@pytest.fixture(scope="module")
def mx(tmp_path_factory):
    ctx = server_tls_context(tmp_path_factory.mktemp("mx"), "mx.remote.test")
    handler = ScriptedMx()
    controller = aiosmtpd_controller.Controller(handler, hostname="127.0.0.1", port=free_port(), tls_context=ctx)
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


class NotReady(http.server.BaseHTTPRequestHandler):
    """A /readyz that answers 503, as a service does while it cannot serve."""

    def do_GET(self):
        body = b"not ready: database unreachable\n"
        self.send_response(503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def not_ready_readyz():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), NotReady)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/readyz"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def portal(fresh_platform_factory, dns, mx, not_ready_readyz):
    _, mx_port = mx
    p = fresh_platform_factory({
        "POSTLINE_DNS_SERVERS": dns,
        "POSTLINE_QUEUE_REMOTE_SMTP_PORT": str(mx_port),
        "POSTLINE_QUEUE_RETRY_SCHEDULE": "1s",
        "POSTLINE_QUEUE_HOSTNAME": "mail.example.test",
        **THROTTLE_ENV,
    })
    p.add_user(USER, PASSWORD)
    p.add_user(LOCAL_RCPT, "the recipient's secret 123")
    p.add_user(OTHER, OTHER_PASSWORD)
    p.add_user(ADMIN, ADMIN_PASSWORD)
    p.cli("user", "set", ADMIN, "--admin", "on")
    p.add_user(PAGER, PAGER_PASSWORD)
    p.cli("domain", "add", ZONE_DOMAIN)
    # smtp.hostname for webd only (the DNS page's MX target); smtpd keeps its own.
    # The health page asks the real smtpd and imapd on their internal ports, and a /readyz answering 503.
    health_urls = (f"smtpd=http://127.0.0.1:{p.ports['smtpd_http']}/readyz,"
                   f"imapd=http://127.0.0.1:{p.ports['imapd_http']}/readyz,reporting={not_ready_readyz}")
    port = p.start_webd({"POSTLINE_WEB_DOMAIN_CACHE_TTL": "0", "POSTLINE_SMTP_HOSTNAME": ZONE_HOST,
                         "POSTLINE_WEB_HEALTH_URLS": health_urls})
    return Https(p, port)


class Https:
    """Plain HTTPS to webd (the platform's certificate as the only trusted CA)."""

    def __init__(self, platform, port: int):
        self.platform = platform
        self.port = port
        self.origin = f"https://127.0.0.1:{port}"
        self.ctx = ssl.create_default_context(cafile=str(platform.cert))

    def request(self, method, path, body=None, cookie=None, origin="self", form=None):
        headers = {}
        if cookie:
            headers["Cookie"] = cookie
        if origin == "self":
            headers["Origin"] = self.origin
        elif origin:
            headers["Origin"] = origin
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=20)
        try:
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.getheaders(), r.read().decode()
        finally:
            conn.close()

    def login(self, user, password):
        """Signs in; returns the Cookie header value of the new session."""
        status, headers, body = self.request("POST", "/login", form={"username": user, "password": password})
        assert status == 303, (status, body)
        return session_cookie(headers)

    def metric(self, name, labels):
        return self.platform.metric_value("webd", name, labels)


def session_cookie(headers) -> str:
    cookies = [v for k, v in headers if k.lower() == "set-cookie" and v.startswith("__Host-postline-session=")]
    assert len(cookies) == 1, headers
    attributes = [a.strip() for a in cookies[0].split(";")]
    assert {"Secure", "HttpOnly", "SameSite=Strict", "Path=/"} <= set(attributes), attributes
    assert not any(a.lower().startswith("domain=") for a in attributes)
    return attributes[0]


def csrf_of(page: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert m, page
    return m.group(1)


def submit(platform, rcpts):
    submit_as(platform, USER, PASSWORD, rcpts, [(SUBJECT, "<portal-test@example.test>", "hello\r\n")])


def submit_as(platform, user, password, rcpts, messages):
    """Submits each (subject, message id, body) in one authenticated submission session."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", platform.ports["smtp_submission"], timeout=60) as smtp:
        smtp.starttls(context=ctx)
        smtp.login(user, password)
        for subject, message_id, body in messages:
            msg = (f"From: {user}\r\nTo: {', '.join(rcpts)}\r\nSubject: {subject}\r\n"
                   f"Message-ID: {message_id}\r\n\r\n{body}")
            smtp.sendmail(user, rcpts, msg.encode())


# --- the browser ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("python3-selenium is not installed (scripts/packages/test.txt)")
    if not chromium or not driver_path:
        pytest.skip("chromium or chromedriver is missing: apt-get install chromium chromium-driver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                # The platform's certificate is self-signed; Chromium would have to
                # trust it through an NSS database. The cookies stay Secure: it is HTTPS.
                "--ignore-certificate-errors",
                "--window-size=412,915"):  # a phone-sized screen
        opts.add_argument(arg)
    opts.set_capability("acceptInsecureCerts", True)
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


def shot(driver, name):
    """The whole page at phone width (the window grows to the page's height for the shot)."""
    size = driver.get_window_size()
    height = driver.execute_script("return document.documentElement.scrollHeight;")
    driver.set_window_size(size["width"], max(size["height"], min(height + 140, 4000)))
    try:
        driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))
    finally:
        driver.set_window_size(size["width"], size["height"])


def recipient_states(driver) -> dict:
    return driver.execute_script(
        "const out = {}; for (const li of document.querySelectorAll('li.recipient'))"
        " out[li.getAttribute('data-recipient')] = li.getAttribute('data-state'); return out;")


def test_browser_sign_in_and_live_delivery_timeline(portal, browser, mx):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    handler, _ = mx
    browser.get(portal.origin + "/")
    assert browser.current_url.endswith("/login")
    shot(browser, "01-sign-in")

    # Wrong password: an error on the page, no session.
    browser.find_element(By.ID, "username").send_keys(USER)
    browser.find_element(By.ID, "password").send_keys("not the password", Keys.ENTER)
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".error[role=alert]"), timeout=15,
               what="the sign-in error")
    assert "Wrong address or password" in browser.find_element(By.CSS_SELECTOR, ".error").text
    assert not [c for c in browser.get_cookies() if c["name"].startswith("__Host-")]
    shot(browser, "02-wrong-password")

    # Keyboard only: the address is kept, Tab to the password, Enter submits.
    username = browser.find_element(By.ID, "username")
    assert username.get_attribute("value") == USER
    username.click()
    browser.switch_to.active_element.send_keys(Keys.TAB)
    browser.switch_to.active_element.send_keys(PASSWORD, Keys.ENTER)
    wait_until(lambda: browser.current_url.endswith("/sent"), timeout=15, what="the sent-mail page")
    [cookie] = [c for c in browser.get_cookies() if c["name"] == "__Host-postline-session"]
    assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    shot(browser, "03-sent-empty")

    # Marker: it survives only if the page is never reloaded.
    browser.execute_script("window.__portalNoReload = 'kept';")
    submit(portal.platform, [LOCAL_RCPT, REMOTE_RCPT])

    def both_delivered():
        states = recipient_states(browser)
        return states if states.get(LOCAL_RCPT) == "delivered" and states.get(REMOTE_RCPT) == "delivered" else None

    try:
        wait_until(both_delivered, timeout=45, interval=0.25, what="both recipients delivered on the page")
    finally:
        shot(browser, "04-sent-delivered")
    assert browser.execute_script("return window.__portalNoReload;") == "kept", "the page was reloaded"
    # The subject, drawn by the script from the JSON, is text: no element made from it ran or exists.
    subject = browser.find_element(By.CSS_SELECTOR, "article.message .subject")
    assert subject.text == SUBJECT
    assert browser.execute_script("return document.querySelectorAll('main script, main b').length;") == 0
    assert browser.title != "owned"
    assert handler.received == [[REMOTE_RCPT]]

    # The remote recipient's timeline: queued, the 451 with the MX's words, the delivery.
    remote = browser.find_element(By.CSS_SELECTOR, f'li.recipient[data-recipient="{REMOTE_RCPT}"]')
    timeline = remote.find_element(By.CSS_SELECTOR, "ol.timeline").text
    assert "queued" in timeline
    assert "451 4.7.1 greylisted" in timeline and "mx.remote.test" in timeline
    assert "the server said" in timeline
    assert timeline.strip().endswith("delivered")

    # Keyboard: the nav links are real links; focus moves there with Tab.
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    focused = browser.switch_to.active_element
    assert focused.get_attribute("href").endswith("#main")  # the skip link first
    # Focus is visible: the keyboard-focused element has an outline.
    assert browser.execute_script("return getComputedStyle(document.activeElement).outlineStyle;") != "none"
    # Phone-sized: nothing wider than the screen (no sideways scrolling).
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth;")
    browser.find_element(By.LINK_TEXT, "Set up a client").click()
    wait_until(lambda: browser.current_url.endswith("/setup"), timeout=10, what="set-up page")
    link = browser.find_element(By.PARTIAL_LINK_TEXT, "autoconfig")
    assert "emailaddress=anna%40example.test" in link.get_attribute("href")
    shot(browser, "05-setup")
    browser.find_element(By.LINK_TEXT, "Quota").click()
    wait_until(lambda: browser.current_url.endswith("/quota"), timeout=10, what="quota page")
    assert "Storage" in browser.find_element(By.TAG_NAME, "table").text
    shot(browser, "06-quota")
    browser.find_element(By.LINK_TEXT, "App passwords").click()
    browser.find_element(By.ID, "label").send_keys("phone", Keys.ENTER)
    wait_until(lambda: browser.find_elements(By.ID, "new-secret"), timeout=10, what="the new app password")
    secret = browser.find_element(By.ID, "new-secret").text
    shot(browser, "07-app-password")
    # The app password works over IMAP.
    imap = imaplib.IMAP4("127.0.0.1", portal.platform.ports["imap"])
    try:
        imap.login(USER, secret)
    finally:
        imap.logout()
    # Sign out; the page is the sign-in form again.
    browser.find_element(By.CSS_SELECTOR, "form.signout button").click()
    wait_until(lambda: browser.current_url.endswith("/login"), timeout=10, what="signed out")


def test_csrf_origin_and_methods(portal):
    cookie = portal.login(USER, PASSWORD)
    status, _, page = portal.request("GET", "/app-passwords", cookie=cookie)
    assert status == 200
    token = csrf_of(page)
    # No CSRF token: refused, nothing created.
    status, _, body = portal.request("POST", "/app-passwords", cookie=cookie, form={"label": "nocsrf"})
    assert status == 403 and "CSRF" in body
    # Wrong token.
    status, _, _ = portal.request("POST", "/app-passwords", cookie=cookie, form={"label": "nocsrf", "csrf": "0" * 64})
    assert status == 403
    # The right token from another site's page (Origin): refused.
    status, _, body = portal.request("POST", "/app-passwords", cookie=cookie, origin="https://evil.example",
                                     form={"label": "nocsrf", "csrf": token})
    assert status == 403 and "Origin" in body
    # Neither Origin nor Referer: refused too.
    status, _, _ = portal.request("POST", "/app-passwords", cookie=cookie, origin=None,
                                  form={"label": "nocsrf", "csrf": token})
    assert status == 403
    status, _, page = portal.request("GET", "/app-passwords", cookie=cookie)
    assert "nocsrf" not in page
    # State changes are POST only.
    status, headers, _ = portal.request("GET", "/logout", cookie=cookie)
    assert status == 405
    # With everything right it works.
    status, _, page = portal.request("POST", "/app-passwords", cookie=cookie, form={"label": "laptop", "csrf": token})
    assert status == 200 and 'id="new-secret"' in page
    status, _, _ = portal.request("POST", "/app-passwords/revoke", cookie=cookie,
                                  form={"label": "laptop", "csrf": token})
    assert status == 303
    status, _, page = portal.request("GET", "/app-passwords", cookie=cookie)
    assert "laptop" not in page
    # Security headers on a private page.
    status, headers, _ = portal.request("GET", "/sent", cookie=cookie)
    h = {k.lower(): v for k, v in headers}
    assert "frame-ancestors 'none'" in h["content-security-policy"]
    assert "script-src 'self'" in h["content-security-policy"] and "unsafe-inline" not in h["content-security-policy"]
    assert h["cache-control"] == "no-store"
    assert h["x-content-type-options"] == "nosniff"


def test_another_user_sees_none_of_the_messages(portal):
    anna = portal.login(USER, PASSWORD)
    status, _, body = portal.request("GET", "/sent.json", cookie=anna)
    assert status == 200
    mine = json.loads(body)["messages"]
    assert mine, "anna's message from the browser test"
    queue_id = mine[0]["queue_id"]
    status, _, page = portal.request("GET", f"/sent/{queue_id}", cookie=anna)
    assert status == 200 and REMOTE_RCPT in page
    # The stored subject, server-rendered: escaped.
    assert "&lt;script&gt;document.title=&apos;owned&apos;&lt;/script&gt; portal &lt;b&gt;test&lt;/b&gt;" in page
    assert "<script>document" not in page and "<b>test" not in page

    carol = portal.login(OTHER, OTHER_PASSWORD)
    status, _, body = portal.request("GET", "/sent.json", cookie=carol)
    assert status == 200 and json.loads(body)["messages"] == []
    status, _, page = portal.request("GET", "/sent", cookie=carol)
    assert REMOTE_RCPT not in page and queue_id not in page
    # Her id or no id: the same 404.
    status, _, page = portal.request("GET", f"/sent/{queue_id}", cookie=carol)
    assert status == 404 and REMOTE_RCPT not in page
    status, _, _ = portal.request("GET", "/sent/NOSUCHID", cookie=carol)
    assert status == 404
    # No session: no data.
    status, _, _ = portal.request("GET", "/sent.json")
    assert status == 401
    # A forged cookie (anna's token with carol's address swapped in) is refused.
    forged = anna.replace(USER.encode().hex(), OTHER.encode().hex())
    status, _, _ = portal.request("GET", "/sent.json", cookie=forged)
    assert status == 401


def test_session_rotation_and_logout(portal):
    first = portal.login(USER, PASSWORD)
    second = portal.login(USER, PASSWORD)
    assert first != second, "each sign-in gets a new session"
    # Signing in with an old cookie still present replaces it.
    status, headers, _ = portal.request("POST", "/login", cookie=first, form={"username": USER, "password": PASSWORD})
    assert status == 303 and session_cookie(headers) not in (first, second)
    status, _, page = portal.request("GET", "/sent", cookie=second)
    status, headers, _ = portal.request("POST", "/logout", cookie=second, form={"csrf": csrf_of(page)})
    assert status == 303
    assert any(k.lower() == "set-cookie" and "Max-Age=0" in v for k, v in headers)
    # The token is dead on this server even if the browser kept it.
    status, _, _ = portal.request("GET", "/sent.json", cookie=second)
    assert status == 401
    status, _, _ = portal.request("GET", "/sent.json", cookie=first)
    assert status == 200


def test_password_change_under_policy(portal):
    cookie = portal.login(OTHER, OTHER_PASSWORD)
    status, _, page = portal.request("GET", "/password", cookie=cookie)
    token = csrf_of(page)
    # authd's policy speaks on the page.
    status, _, page = portal.request("POST", "/password", cookie=cookie,
                                     form={"csrf": token, "current": OTHER_PASSWORD, "new": "short", "confirm": "short"})
    assert status == 400 and "password is shorter than" in page
    # The current password must be right.
    new = "a much better password 42"
    status, _, page = portal.request("POST", "/password", cookie=cookie,
                                     form={"csrf": token, "current": "wrong", "new": new, "confirm": new})
    assert status == 403 and "current password is not right" in page
    status, _, page = portal.request("POST", "/password", cookie=cookie,
                                     form={"csrf": token, "current": OTHER_PASSWORD, "new": new, "confirm": new})
    assert status == 200 and "password was changed" in page
    imap = imaplib.IMAP4("127.0.0.1", portal.platform.ports["imap"])
    try:
        imap.login(OTHER, new)
    finally:
        imap.logout()


def test_metrics_count_logins_and_routes(portal):
    for outcome in ("ok", "invalid_credentials", "throttled", "disabled", "unavailable"):
        assert f'outcome="{outcome}"' in portal.platform.metrics_text("webd")
    assert portal.metric("postline_webd_portal_logins_total", {"outcome": "ok"}) >= 5
    assert portal.metric("postline_webd_portal_logins_total", {"outcome": "invalid_credentials"}) >= 1
    assert portal.metric("postline_webd_portal_requests_total", {"route": "sent_json", "status": "200"}) >= 1
    assert portal.metric("postline_webd_portal_requests_total", {"route": "app_passwords", "status": "403"}) >= 1


def test_administrator_creates_a_user_who_logs_in_over_imap(portal, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    # Not for everybody: a user without the flag gets 404, and no link.
    anna = portal.login(USER, PASSWORD)
    status, _, _ = portal.request("GET", "/admin/users", cookie=anna)
    assert status == 404
    status, _, page = portal.request("GET", "/sent", cookie=anna)
    assert 'href="/admin"' not in page

    browser.get(portal.origin + "/login")
    browser.find_element(By.ID, "username").send_keys(ADMIN)
    browser.find_element(By.ID, "password").send_keys(ADMIN_PASSWORD, Keys.ENTER)
    wait_until(lambda: browser.current_url.endswith("/sent"), timeout=15, what="signed in as the administrator")
    browser.find_element(By.LINK_TEXT, "Administration").click()
    wait_until(lambda: browser.current_url.endswith("/admin/users"), timeout=10, what="the users page")
    browser.find_element(By.ID, "email").send_keys(CREATED)
    browser.find_element(By.ID, "new-password").send_keys(CREATED_PASSWORD)
    browser.find_element(By.ID, "quota").send_keys("100MiB", Keys.ENTER)
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, f'tr[data-user="{CREATED}"]'), timeout=15,
               what="the new user in the list")
    assert f"User {CREATED} added." in browser.find_element(By.CSS_SELECTOR, ".ok").text
    shot(browser, "08-admin-user-added")
    # authd's policy speaks here too.
    browser.find_element(By.ID, "email").send_keys("erik@example.test")
    browser.find_element(By.ID, "new-password").send_keys("short", Keys.ENTER)
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".error[role=alert]"), timeout=15, what="policy error")
    assert "password is shorter than" in browser.find_element(By.CSS_SELECTOR, ".error").text
    # The new account works over IMAP, with the quota the form gave.
    imap = imaplib.IMAP4("127.0.0.1", portal.platform.ports["imap"])
    try:
        typ, _ = imap.login(CREATED, CREATED_PASSWORD)
        assert typ == "OK"
    finally:
        imap.logout()
    listed = json.loads(portal.platform.cli("--json", "user", "list", "example.test").stdout)
    [shown] = [u for u in (listed if isinstance(listed, list) else listed["users"]) if u["email"] == CREATED]
    assert shown["quota_bytes"] == 100 * 1024 * 1024 and not shown["admin"], shown
    # And the administrator changes that quota.
    row_quota = browser.find_element(By.CSS_SELECTOR, f'tr[data-user="{CREATED}"] input[name=quota]')
    assert row_quota.get_attribute("value") == "100MiB", "the form shows the current quota"
    row_quota.clear()
    row_quota.send_keys("200MiB", Keys.ENTER)
    wait_until(lambda: any("Quota of" in e.text for e in browser.find_elements(By.CSS_SELECTOR, ".ok")),
               timeout=15, what="quota set")
    listed = json.loads(portal.platform.cli("--json", "user", "list", "example.test").stdout)
    [shown] = [u for u in (listed if isinstance(listed, list) else listed["users"]) if u["email"] == CREATED]
    assert shown["quota_bytes"] == 200 * 1024 * 1024, shown
    # Disabled: IMAP refuses the account; enabled again: it works.
    browser.find_element(By.CSS_SELECTOR, f'button[aria-label="Disable {CREATED}"]').click()
    wait_until(lambda: any(f"User {CREATED} disabled." in e.text for e in browser.find_elements(By.CSS_SELECTOR, ".ok")),
               timeout=15, what="user disabled")
    imap = imaplib.IMAP4("127.0.0.1", portal.platform.ports["imap"])
    try:
        with pytest.raises(imaplib.IMAP4.error):
            imap.login(CREATED, CREATED_PASSWORD)
    finally:
        imap.shutdown()
    browser.find_element(By.CSS_SELECTOR, f'button[aria-label="Enable {CREATED}"]').click()
    wait_until(lambda: any(f"User {CREATED} enabled." in e.text for e in browser.find_elements(By.CSS_SELECTOR, ".ok")),
               timeout=15, what="user enabled")
    imap = imaplib.IMAP4("127.0.0.1", portal.platform.ports["imap"])
    try:
        assert imap.login(CREATED, CREATED_PASSWORD)[0] == "OK"
    finally:
        imap.logout()
    # Health: what webd reaches, all up here.
    browser.find_element(By.LINK_TEXT, "Health").click()
    wait_until(lambda: browser.current_url.endswith("/admin/health"), timeout=10, what="the health page")
    health = {r.get_attribute("data-service"): r.get_attribute("data-ok")
              for r in browser.find_elements(By.CSS_SELECTOR, "tr[data-service]")}
    assert health == {"authd": "true", "queued": "true", "mailstore database": "true", "smtpd": "true",
                      "imapd": "true", "reporting": "false"}, health
    # The queue: a message that keeps being deferred, found by the filter, held, then deleted.
    submit(portal.platform, [STUCK_RCPT])
    browser.find_element(By.LINK_TEXT, "Queue").click()
    wait_until(lambda: browser.current_url.endswith("/admin/queue"), timeout=10, what="the queue page")
    browser.find_element(By.ID, "f-recipient").send_keys(STUCK_RCPT, Keys.ENTER)

    def stuck_article():
        browser.refresh()  # this page does not update by itself
        found = browser.find_elements(By.CSS_SELECTOR, f'li.recipient[data-recipient="{STUCK_RCPT}"][data-state="deferred"]')
        return found and browser.find_element(By.CSS_SELECTOR, "article.message").get_attribute("data-queue-id")

    queue_id = wait_until(stuck_article, timeout=30, interval=0.5, what="the deferred message on the queue page")
    assert "recipient=stuck%40remote.test" in browser.current_url
    shot(browser, "09-admin-queue")
    browser.find_element(By.CSS_SELECTOR, f'button[aria-label="hold {queue_id}"]').click()
    wait_until(lambda: any(f"hold: {queue_id} done." in e.text for e in browser.find_elements(By.CSS_SELECTOR, ".ok")),
               timeout=15, what="held")
    shown = json.loads(portal.platform.cli("--json", "queue", "show", queue_id).stdout)
    assert shown["recipients"][0]["held"], shown
    browser.find_element(By.CSS_SELECTOR, f'button[aria-label="delete {queue_id}"]').click()
    wait_until(lambda: any(f"delete: {queue_id} done." in e.text for e in browser.find_elements(By.CSS_SELECTOR, ".ok")),
               timeout=15, what="deleted")
    assert not browser.find_elements(By.CSS_SELECTOR, f'article.message[data-queue-id="{queue_id}"]')
    browser.find_element(By.CSS_SELECTOR, "form.signout button").click()
    wait_until(lambda: browser.current_url.endswith("/login"), timeout=10, what="signed out")


def record_rows(page: str) -> dict:
    """{(purpose, name): verdict or None} from the DNS page's table rows."""
    rows = {}
    for m in re.finditer(r'<tr data-record="([^"]*)" data-name="([^"]*)"(?: data-verdict="([^"]*)")?', page):
        rows[(m.group(1), m.group(2))] = m.group(3)
    return rows


def test_dns_page_shows_records_and_checks_them(portal):
    admin = portal.login(ADMIN, ADMIN_PASSWORD)
    status, _, page = portal.request("GET", "/admin/domains", cookie=admin)
    assert status == 200 and f'href="/admin/dns?domain={ZONE_DOMAIN}"' in page
    # What to publish, from webd's configuration; DNS is not asked yet.
    status, _, page = portal.request("GET", f"/admin/dns?domain={ZONE_DOMAIN}", cookie=admin)
    assert status == 200, page
    assert f"{ZONE_DOMAIN}.".ljust(35) + f"IN MX    10 {ZONE_HOST}.\n" in page, page
    assert "&quot;v=spf1 mx -all&quot;" in page  # the zone text, escaped
    rows = record_rows(page)
    assert rows[("mx", ZONE_DOMAIN)] is None and rows[("spf", ZONE_DOMAIN)] is None, rows
    # Check now: the right MX is ok, the SPF record found is named as wrong.
    status, _, page = portal.request("GET", f"/admin/dns?domain={ZONE_DOMAIN}&check=1", cookie=admin)
    assert status == 200, page
    rows = record_rows(page)
    assert rows[("mx", ZONE_DOMAIN)] == "ok", rows
    assert rows[("spf", ZONE_DOMAIN)] == "wrong", rows
    assert rows[("dmarc", f"_dmarc.{ZONE_DOMAIN}")] == "missing", rows
    assert "found: <code>v=spf1 -all</code>" in page
    assert f"Asked {portal.platform.env['POSTLINE_DNS_SERVERS']}" in page
    # Not a domain name: a clear 400; not an administrator: 404.
    status, _, page = portal.request("GET", "/admin/dns?domain=not%20a%20domain", cookie=admin)
    assert status == 400 and "is not a domain name" in page
    status, _, _ = portal.request("GET", f"/admin/dns?domain={ZONE_DOMAIN}", cookie=portal.login(USER, PASSWORD))
    assert status == 404


def health_states(page: str) -> dict:
    """{service: (data-state, detail)} from the health page."""
    return {m.group(1): (m.group(2), m.group(3)) for m in re.finditer(
        r'<tr data-service="([^"]*)" data-ok="[^"]*" data-state="([^"]*)">.*?<td>([^<]*)</td></tr>', page)}


def test_health_page_asks_smtpd_and_imapd(portal):
    admin = portal.login(ADMIN, ADMIN_PASSWORD)
    status, _, page = portal.request("GET", "/admin/health", cookie=admin)
    assert status == 200, page
    states = health_states(page)
    assert states["smtpd"] == ("ready", "HTTP 200"), states
    assert states["imapd"] == ("ready", "HTTP 200"), states
    assert states["reporting"] == ("not ready", "HTTP 503: not ready: database unreachable"), states
    assert states["authd"][0] == "up" and states["queued"][0] == "up", states
    # smtpd stopped: nothing answers on its port.
    platform = portal.platform
    platform.stop("smtpd")
    try:
        status, _, page = portal.request("GET", "/admin/health", cookie=admin)
        states = health_states(page)
        assert states["smtpd"][0] == "unreachable", states
        assert states["smtpd"][1], "says why"
        assert states["imapd"][0] == "ready", states
    finally:
        platform.start("smtpd")
    status, _, page = portal.request("GET", "/admin/health", cookie=admin)
    assert health_states(page)["smtpd"][0] == "ready"


# --- administration: the queued message, removals, catch-all; paging -------------------

def browser_sign_in(browser, portal, user, password):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(portal.origin + "/login")
    browser.find_element(By.ID, "username").send_keys(user)
    browser.find_element(By.ID, "password").send_keys(password, Keys.ENTER)
    wait_until(lambda: browser.current_url.endswith("/sent"), timeout=15, what=f"signed in as {user}")


def browser_sign_out(browser):
    from selenium.webdriver.common.by import By

    browser.find_element(By.CSS_SELECTOR, "form.signout button").click()
    wait_until(lambda: browser.current_url.endswith("/login"), timeout=10, what="signed out")


def notice(browser, text):
    from selenium.webdriver.common.by import By

    wait_until(lambda: any(text in e.text for e in browser.find_elements(By.CSS_SELECTOR, ".ok")), timeout=15,
               what=f"the notice {text!r}")


def imap_login_works(platform, user, password) -> bool:
    imap = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
    try:
        imap.login(user, password)
        imap.logout()
        return True
    except imaplib.IMAP4.error:
        imap.shutdown()
        return False


def queue_ids(page: str) -> list[str]:
    return re.findall(r'<article class="message" data-queue-id="([^"]+)"', page)


def test_admin_views_a_queued_message_as_text_and_filters_the_queue(portal, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    # A message the MX keeps deferring, with markup in its body and over 256 KiB of it.
    body = ("<script>document.title='owned'</script>\r\n<b>not bold</b>\r\n" +
            "".join(f"line {i:05d} " + "x" * 64 + "\r\n" for i in range(4000)))
    submit_as(portal.platform, ADMIN, ADMIN_PASSWORD, [VIEW_RCPT],
              [("a message to look at", "<view-test@example.test>", body)])
    browser_sign_in(browser, portal, ADMIN, ADMIN_PASSWORD)
    try:
        browser.get(portal.origin + "/admin/queue")
        browser.find_element(By.ID, "f-message-id").send_keys("<view-test@example.test>", Keys.ENTER)

        def deferred_article():
            browser.refresh()
            found = browser.find_elements(By.CSS_SELECTOR,
                                          f'li.recipient[data-recipient="{VIEW_RCPT}"][data-state="deferred"]')
            return found and browser.find_element(By.CSS_SELECTOR, "article.message").get_attribute("data-queue-id")

        queue_id = wait_until(deferred_article, timeout=30, interval=0.5, what="the deferred message, by Message-ID")
        assert "message_id=%3Cview-test%40example.test%3E" in browser.current_url
        # Its subject opens it: the header and the body as text, the first 256 KiB.
        browser.find_element(By.CSS_SELECTOR, f'article[data-queue-id="{queue_id}"] h2 a').click()
        wait_until(lambda: browser.current_url.endswith(f"/admin/queue/{queue_id}"), timeout=10, what="the view")
        shown = browser.find_element(By.ID, "message-body").text
        assert shown.startswith("<script>document.title='owned'</script>\n<b>not bold</b>\nline 00000 "), shown[:200]
        assert "line 03999" not in shown, "cut at 256 KiB"
        assert "Only the first 256 KiB" in browser.find_element(By.ID, "cut").text
        assert "Message-ID: <view-test@example.test>" in browser.find_element(By.ID, "message-header").text
        assert browser.execute_script("return document.querySelectorAll('main script, main b').length;") == 0
        assert browser.title != "owned"
        browser.execute_script("window.scrollTo(0, 0);")
        shot(browser, "10-admin-queued-message")
        # The body is reachable with the keyboard (it scrolls): it takes focus.
        assert browser.find_element(By.ID, "message-body").get_attribute("tabindex") == "0"
    finally:
        browser_sign_out(browser)

    # The filters as queued applies them, over plain HTTPS.
    admin = portal.login(ADMIN, ADMIN_PASSWORD)

    def listed(query):
        status, _, page = portal.request("GET", "/admin/queue?" + query, cookie=admin)
        assert status == 200, (query, status, page)
        return queue_id in queue_ids(page)

    assert listed("message_id=view-test%40example.test"), "without the angle brackets too"
    assert listed("state=deferred&recipient=" + urllib.parse.quote(VIEW_RCPT))
    assert not listed("state=delivered&message_id=view-test%40example.test")
    assert not listed("older=1h&message_id=view-test%40example.test")
    wait_until(lambda: listed("older=1s&message_id=view-test%40example.test"), timeout=15, what="older than 1s")
    status, _, page = portal.request("GET", "/admin/queue?older=soon", cookie=admin)
    assert status == 400 and "older than: expected a duration" in page
    # Another administrator-only page: 404 for anybody else, 404 for an id that is not there.
    status, _, _ = portal.request("GET", f"/admin/queue/{queue_id}", cookie=portal.login(USER, PASSWORD))
    assert status == 404
    status, _, _ = portal.request("GET", "/admin/queue/NOSUCHMESSAGE", cookie=admin)
    assert status == 404
    status, _, page = portal.request("GET", "/admin/queue", cookie=admin)
    status, _, _ = portal.request("POST", "/admin/queue", cookie=admin,
                                  form={"csrf": csrf_of(page), "queue_id": queue_id, "action": "delete"})
    assert status == 200


def test_admin_removes_a_user_who_then_cannot_log_in(portal, browser):
    from selenium.webdriver.common.by import By

    portal.platform.add_user(REMOVED, REMOVED_PASSWORD)
    portal.platform.cli("alias", "add", "ernie-alias@example.test", REMOVED)
    assert imap_login_works(portal.platform, REMOVED, REMOVED_PASSWORD)
    browser_sign_in(browser, portal, ADMIN, ADMIN_PASSWORD)
    try:
        browser.get(portal.origin + "/admin/users")
        assert not browser.find_elements(By.CSS_SELECTOR, f'button[aria-label="Remove {ADMIN}"]'), "not oneself"
        browser.find_element(By.CSS_SELECTOR, f'button[aria-label="Remove {REMOVED}"]').click()
        # First the confirmation, with what goes and what stays.
        wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".confirm"), timeout=10, what="the confirmation")
        confirm = browser.find_element(By.CSS_SELECTOR, ".confirm").text
        assert f"Remove {REMOVED}?" in confirm and "ernie-alias@example.test" in confirm, confirm
        assert imap_login_works(portal.platform, REMOVED, REMOVED_PASSWORD), "nothing removed yet"
        shot(browser, "11-admin-remove-user")
        browser.find_element(By.CSS_SELECTOR, ".confirm button.danger").click()
        notice(browser, f"User {REMOVED} removed.")
        assert not browser.find_elements(By.CSS_SELECTOR, f'tr[data-user="{REMOVED}"]')
    finally:
        browser_sign_out(browser)
    assert not imap_login_works(portal.platform, REMOVED, REMOVED_PASSWORD), "the removed account is refused"
    # The alias stays (as `postline user remove` says).
    assert "ernie-alias@example.test" in portal.platform.cli("alias", "list", "example.test").stdout

    admin = portal.login(ADMIN, ADMIN_PASSWORD)
    status, _, page = portal.request("GET", "/admin/users", cookie=admin)
    token = csrf_of(page)
    # Never the signed-in account, even confirmed; never without the CSRF token or from elsewhere.
    status, _, page = portal.request("POST", "/admin/users/remove", cookie=admin,
                                     form={"csrf": token, "email": ADMIN, "confirm": "yes"})
    assert status == 400 and "signed in with" in page
    status, _, _ = portal.request("POST", "/admin/users/remove", cookie=admin, form={"email": OTHER, "confirm": "yes"})
    assert status == 403
    status, _, _ = portal.request("POST", "/admin/users/remove", cookie=admin, origin="https://evil.example",
                                  form={"csrf": token, "email": OTHER, "confirm": "yes"})
    assert status == 403
    assert imap_login_works(portal.platform, ADMIN, ADMIN_PASSWORD)
    status, _, page = portal.request("GET", "/admin/users", cookie=admin)
    assert f'data-user="{OTHER}"' in page


def test_admin_removes_a_domain_with_what_it_holds(portal, browser):
    from selenium.webdriver.common.by import By

    p = portal.platform
    p.add_user(f"gus@{GONE_DOMAIN}", "a long secret for g 7")
    p.cli("alias", "add", f"info@{GONE_DOMAIN}", f"gus@{GONE_DOMAIN}")
    p.cli("domain", "catch-all", GONE_DOMAIN, f"gus@{GONE_DOMAIN}")
    browser_sign_in(browser, portal, ADMIN, ADMIN_PASSWORD)
    try:
        browser.get(portal.origin + "/admin/domains")
        assert not browser.find_elements(By.CSS_SELECTOR, 'button[aria-label="Remove example.test"]'), "the admin's own"
        browser.find_element(By.CSS_SELECTOR, f'button[aria-label="Remove {GONE_DOMAIN}"]').click()
        wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, ".confirm"), timeout=10, what="the confirmation")
        confirm = browser.find_element(By.CSS_SELECTOR, ".confirm").text
        assert f"1 user and their app passwords: gus@{GONE_DOMAIN}" in confirm, confirm
        assert f"1 alias: info@{GONE_DOMAIN}" in confirm and f"its catch-all (to gus@{GONE_DOMAIN})" in confirm
        assert "mailboxes and messages" in confirm
        shot(browser, "12-admin-remove-domain")
        browser.find_element(By.CSS_SELECTOR, ".confirm button.danger").click()
        notice(browser, f"Domain {GONE_DOMAIN} removed, with 1 user, 1 alias, its catch-all.")
    finally:
        browser_sign_out(browser)
    domains = json.loads(p.cli("--json", "domain", "list").stdout)
    assert GONE_DOMAIN not in [d["name"] for d in domains], domains
    users = json.loads(p.cli("--json", "user", "list").stdout)
    assert f"gus@{GONE_DOMAIN}" not in [u["email"] for u in (users if isinstance(users, list) else users["users"])]
    # The domain of the signed-in account stays, confirmed or not.
    admin = portal.login(ADMIN, ADMIN_PASSWORD)
    status, _, page = portal.request("GET", "/admin/domains", cookie=admin)
    status, _, page = portal.request("POST", "/admin/domains/remove", cookie=admin,
                                     form={"csrf": csrf_of(page), "name": "example.test", "confirm": "yes"})
    assert status == 400 and "belongs to it" in page
    assert "example.test" in [d["name"] for d in json.loads(p.cli("--json", "domain", "list").stdout)]


def smtp_rcpt(platform, rcpt, subject=None):
    """RCPT over port 25 (as from outside); with a subject the message is sent. Returns RCPT's reply code."""
    with smtplib.SMTP("127.0.0.1", platform.ports["smtp_mx"], timeout=30) as smtp:
        smtp.ehlo("client.remote.test")
        smtp.mail("someone@remote.test")
        code, _ = smtp.rcpt(rcpt)
        if code == 250 and subject:
            smtp.data(f"From: someone@remote.test\r\nTo: {rcpt}\r\nSubject: {subject}\r\n\r\nfor anybody\r\n".encode())
        return code


def test_catch_all_takes_mail_for_unknown_addresses(portal, browser):
    from selenium.webdriver.common.by import By

    p = portal.platform
    token = secrets.token_hex(4)
    assert smtp_rcpt(p, f"nobody-{token}-before@example.test") == 550, "no catch-all yet"
    browser_sign_in(browser, portal, ADMIN, ADMIN_PASSWORD)
    try:
        browser.get(portal.origin + "/admin/domains")
        row = browser.find_element(By.CSS_SELECTOR, 'tr[data-domain="example.test"]')
        row.find_element(By.CSS_SELECTOR, "input[name=target]").send_keys(LOCAL_RCPT)
        row.find_element(By.CSS_SELECTOR, 'button[value="set"]').click()
        notice(browser, f"Mail to unknown addresses of example.test now goes to {LOCAL_RCPT}.")
        row = browser.find_element(By.CSS_SELECTOR, 'tr[data-domain="example.test"]')
        assert row.find_element(By.CSS_SELECTOR, ".catch-all").text == LOCAL_RCPT
        shot(browser, "13-admin-catch-all")
        # Mail to an address nobody has is accepted and lands in the catch-all's INBOX.
        subject = f"catch-all test {token}"
        assert smtp_rcpt(p, f"nobody-{token}@example.test", subject) == 250

        def arrived():
            imap = imaplib.IMAP4("127.0.0.1", p.ports["imap"])
            try:
                imap.login(LOCAL_RCPT, "the recipient's secret 123")
                imap.select("INBOX", readonly=True)
                _, data = imap.search(None, "SUBJECT", f'"{subject}"')
                return data[0].split()
            finally:
                imap.logout()

        wait_until(arrived, timeout=30, interval=0.5, what="the catch-all's delivery")
        # Cleared: refused again (a new address: smtpd remembers answers for a few seconds).
        row = browser.find_element(By.CSS_SELECTOR, 'tr[data-domain="example.test"]')
        row.find_element(By.CSS_SELECTOR, 'button[value="clear"]').click()
        notice(browser, "Catch-all of example.test cleared")
        assert smtp_rcpt(p, f"nobody-{token}-after@example.test") == 550
    finally:
        browser_sign_out(browser)


def test_sent_mail_and_queue_pages_beyond_fifty(portal, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    total = 55
    submit_as(portal.platform, PAGER, PAGER_PASSWORD, [LOCAL_RCPT],
              [(f"paging message {i:02d}", f"<paging-{i:02d}@example.test>", "hello\r\n") for i in range(total)])
    browser_sign_in(browser, portal, PAGER, PAGER_PASSWORD)
    try:
        def subjects():
            return [e.text for e in browser.find_elements(By.CSS_SELECTOR, "article.message .subject")]

        first = subjects()
        assert len(first) == 50 and first[0] == f"paging message {total - 1:02d}", first[:3]
        assert not browser.find_elements(By.CSS_SELECTOR, "a[rel=prev]")
        # The link is a real link: the keyboard reaches it and Enter follows it.
        older = browser.find_element(By.CSS_SELECTOR, ".pager a[rel=next]")
        assert older.text == "Older messages" and older.get_attribute("tabIndex") == "0"
        browser.execute_script("arguments[0].focus();", older)
        assert browser.switch_to.active_element == older
        browser.switch_to.active_element.send_keys(Keys.ENTER)
        wait_until(lambda: "/sent?after=" in browser.current_url, timeout=10, what="the second page")
        second = subjects()
        assert len(second) == total - 50, second
        assert not set(first) & set(second)
        assert sorted(first + second) == sorted(f"paging message {i:02d}" for i in range(total))
        assert not browser.find_elements(By.CSS_SELECTOR, "a[rel=next]")
        shot(browser, "14-sent-second-page")
        # The live update keeps this page (it polls the same cursor), then back to the newest.
        wait_until(lambda: "Updated" in browser.find_element(By.ID, "live-status").text, timeout=20,
                   what="a live update of the second page")
        assert subjects() == second
        browser.find_element(By.CSS_SELECTOR, ".pager a[rel=prev]").send_keys(Keys.ENTER)
        wait_until(lambda: "/sent?before=" in browser.current_url, timeout=10, what="back to the first page")
        assert subjects() == first
    finally:
        browser_sign_out(browser)

    # The administrator's queue pages the same way (oldest first; state=any lists delivered messages too).
    admin = portal.login(ADMIN, ADMIN_PASSWORD)
    status, _, page = portal.request("GET", f"/admin/queue?sender={urllib.parse.quote(PAGER)}&state=any", cookie=admin)
    assert status == 200
    page_one = queue_ids(page)
    assert len(page_one) == 50
    m = re.search(r'<a rel="next" href="([^"]+)">Later messages</a>', page)
    assert m, page
    status, _, page = portal.request("GET", m.group(1).replace("&amp;", "&"), cookie=admin)
    page_two = queue_ids(page)
    assert len(page_two) == total - 50 and not set(page_one) & set(page_two)
    m = re.search(r'<a rel="prev" href="([^"]+)">Earlier messages</a>', page)
    status, _, page = portal.request("GET", m.group(1).replace("&amp;", "&"), cookie=admin)
    assert queue_ids(page) == page_one


def users_listed(platform) -> dict:
    listed = json.loads(platform.cli("--json", "user", "list", "example.test").stdout)
    return {u["email"]: u for u in (listed if isinstance(listed, list) else listed["users"])}


def inbox_count(platform, user, password) -> int:
    imap = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
    try:
        imap.login(user, password)
        typ, data = imap.status("INBOX", "(MESSAGES)")
        assert typ == "OK", data
        return int(re.search(rb"MESSAGES (\d+)", data[0]).group(1))
    finally:
        imap.logout()


def test_admin_sets_a_message_limit_and_the_third_message_waits(portal, browser):
    """The message-count limit (authd's quota_messages) from the users page: with 2 allowed, a third
    message is accepted over SMTP and deferred by queued with 452 4.2.2 "mailbox full (message count
    quota)" (docs/queue.md "Quota"); emptying the field (unlimited) lets the retry deliver it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    p = portal.platform
    token = secrets.token_hex(4)
    browser_sign_in(browser, portal, ADMIN, ADMIN_PASSWORD)
    try:
        browser.get(portal.origin + "/admin/users")
        # Added with a message limit of 5 ...
        browser.find_element(By.ID, "email").send_keys(LIMITED)
        browser.find_element(By.ID, "new-password").send_keys(LIMITED_PASSWORD)
        browser.find_element(By.ID, "messages").send_keys("5", Keys.ENTER)
        notice(browser, f"User {LIMITED} added.")
        assert users_listed(p)[LIMITED]["quota_messages"] == 5
        # ... then set to 2 in its row; the storage quota (unlimited) stays.
        row = browser.find_element(By.CSS_SELECTOR, f'tr[data-user="{LIMITED}"]')
        messages = row.find_element(By.CSS_SELECTOR, "input[name=messages]")
        assert messages.get_attribute("value") == "5"
        assert row.find_element(By.CSS_SELECTOR, "input[name=quota]").get_attribute("value") == ""
        messages.clear()
        messages.send_keys("2", Keys.ENTER)
        notice(browser, f"Quota of {LIMITED} set: storage unlimited, messages 2.")
        row = browser.find_element(By.CSS_SELECTOR, f'tr[data-user="{LIMITED}"]')
        assert row.find_element(By.CSS_SELECTOR, 'td[data-label="Message limit"]').text == "2"
        assert row.find_element(By.CSS_SELECTOR, 'td[data-label="Storage quota"]').text == "unlimited"
        shown = users_listed(p)[LIMITED]
        assert shown["quota_messages"] == 2 and shown["quota_bytes"] == 0, shown
        shot(browser, "15-admin-message-limit")
    finally:
        browser_sign_out(browser)

    # Over plain HTTPS: a value that is not a plain number is refused, naming the field; authd keeps 2.
    admin = portal.login(ADMIN, ADMIN_PASSWORD)
    status, _, page = portal.request("GET", "/admin/users", cookie=admin)
    csrf = csrf_of(page)
    for bad in ("-1", "2.5", "1e3", " 3", "1000000000000000"):
        status, _, page = portal.request("POST", "/admin/users/quota", cookie=admin,
                                         form={"csrf": csrf, "email": LIMITED, "quota": "", "messages": bad})
        assert status == 400 and '<p class="error" role="alert">messages: ' in page, (bad, status)
    status, _, _ = portal.request("POST", "/admin/users/quota", cookie=admin,
                                  form={"email": LIMITED, "quota": "", "messages": "9"})
    assert status == 403, "no CSRF token"
    status, _, _ = portal.request("POST", "/admin/users/quota", cookie=admin, origin="https://evil.example",
                                  form={"csrf": csrf, "email": LIMITED, "quota": "", "messages": "9"})
    assert status == 403, "another site's Origin"
    assert users_listed(p)[LIMITED]["quota_messages"] == 2

    # Two messages fit; the third is accepted (250) and deferred by queued, as docs/queue.md says.
    over_quota_before = p.metric_value("queued", "postline_queued_over_quota_total", {"result": "deferred"})
    for i in (1, 2):
        assert smtp_rcpt(p, LIMITED, f"limit test {token} {i}") == 250
    wait_until(lambda: inbox_count(p, LIMITED, LIMITED_PASSWORD) == 2, timeout=30, interval=0.5,
               what="the first two messages delivered")
    assert smtp_rcpt(p, LIMITED, f"limit test {token} 3") == 250, "accepted: the limit is applied at delivery"

    def deferred_for_the_count():
        status, _, page = portal.request("GET", "/admin/queue?recipient=" + urllib.parse.quote(LIMITED), cookie=admin)
        assert status == 200
        m = re.search(r'<li class="recipient" data-recipient="' + re.escape(LIMITED) +
                      r'" data-state="deferred">(.*?)</ol>', page, re.S)
        return m and "452 4.2.2 mailbox full (message count quota)" in m.group(1) and m.group(1)

    timeline = wait_until(deferred_for_the_count, timeout=30, interval=0.5, what="the third message deferred")
    assert "Postline said" in timeline and "deferred until" in timeline, timeline
    assert inbox_count(p, LIMITED, LIMITED_PASSWORD) == 2
    assert p.metric_value("queued", "postline_queued_over_quota_total", {"result": "deferred"}) > over_quota_before

    # The user's quota page: 2 of 2 messages.
    browser_sign_in(browser, portal, LIMITED, LIMITED_PASSWORD)
    try:
        browser.find_element(By.LINK_TEXT, "Quota").click()
        wait_until(lambda: browser.current_url.endswith("/quota"), timeout=10, what="quota page")
        # {row: {cell's data-label (what a phone-sized screen shows before it): text}}
        rows = {r.find_element(By.TAG_NAME, "th").text: {td.get_attribute("data-label") or "share": td.text
                                                          for td in r.find_elements(By.TAG_NAME, "td")}
                for r in browser.find_elements(By.CSS_SELECTOR, "tbody tr")}
        assert rows["Messages"]["Used"] == "2" and rows["Messages"]["Limit"] == "2", rows
        assert "100%" in rows["Messages"]["share"], rows
        assert rows["Storage"]["Limit"] == "unlimited", rows
        shot(browser, "16-quota-message-limit")
    finally:
        browser_sign_out(browser)

    # Unlimited again (the field emptied): queued's next attempt delivers the third.
    status, _, page = portal.request("POST", "/admin/users/quota", cookie=admin,
                                     form={"csrf": csrf, "email": LIMITED, "quota": "", "messages": ""})
    assert status == 200 and "messages unlimited." in page
    assert users_listed(p)[LIMITED]["quota_messages"] == 0
    wait_until(lambda: inbox_count(p, LIMITED, LIMITED_PASSWORD) == 3, timeout=30, interval=0.5,
               what="the third message delivered once the limit is gone")


FILTERS_USER = "fred@example.test"  # sets up filters and a vacation reply on the filters page
FILTERS_PASSWORD = "filters page password 8"


def test_filters_page_files_mail_and_sends_one_vacation_reply(portal, mx):
    """The filters page (issue 18 with issue 19's Sieve): a rule and an automatic reply saved in
    the portal become the user's active Sieve script; mail over SMTP lands in the rule's folder,
    the sender gets one reply (at the test MX), and the page shows the saved settings again."""
    handler, _ = mx
    p = portal.platform
    p.add_user(FILTERS_USER, FILTERS_PASSWORD)
    cookie = portal.login(FILTERS_USER, FILTERS_PASSWORD)
    status, _, page = portal.request("GET", "/filters", cookie=cookie)
    assert status == 200 and 'name="rule0_value"' in page, page
    token = csrf_of(page)
    form = {"csrf": token, "vacation": "on", "vacation_days": "3", "vacation_subject": 'Away "until" Monday',
            "vacation_body": "I am away.\nBack on Monday.", "rule0_field": "subject", "rule0_match": "contains",
            "rule0_value": "invoice", "rule0_action": "fileinto", "rule0_folder": "Invoices"}
    # Refused with a reason, what was typed kept: a folder name IMAP would refuse.
    status, _, page = portal.request("POST", "/filters", cookie=cookie, form={**form, "rule0_folder": "Bills*"})
    assert status == 400 and "name the folder" in page and 'value="invoice"' in page, page
    # Without the form's token: refused.
    status, _, _ = portal.request("POST", "/filters", cookie=cookie, form={**form, "csrf": "0" * 32})
    assert status == 403
    status, _, page = portal.request("POST", "/filters", cookie=cookie, form=form)
    assert status == 200 and "New mail is filtered from now on" in page, page
    # The active script over ManageSieve's store: the CLI lists it.
    listing = p.cli("sieve", "list", FILTERS_USER).stdout
    assert "postline-portal" in listing, listing
    with handler.lock:
        before = sum(1 for rcpts in handler.received if "someone@remote.test" in rcpts)
    assert smtp_rcpt(p, FILTERS_USER, subject="your invoice 42") == 250
    assert smtp_rcpt(p, FILTERS_USER, subject="just saying hello") == 250
    wait_until(lambda: subjects(p, FILTERS_USER, FILTERS_PASSWORD, "Invoices") == ["your invoice 42"],
               timeout=30, what="the invoice filed by the portal's rule")
    wait_until(lambda: subjects(p, FILTERS_USER, FILTERS_PASSWORD) == ["just saying hello"],
               timeout=30, what="the other message in the INBOX")

    def replies():
        with handler.lock:
            return sum(1 for rcpts in handler.received if "someone@remote.test" in rcpts) - before
    wait_until(lambda: replies() >= 1, timeout=60, what="the vacation reply at the remote MX")
    # Once per sender per period: two messages, one reply (the second found the first in the
    # history; both were delivered before the wait above ended).
    assert replies() == 1
    status, _, page = portal.request("GET", "/filters", cookie=cookie)
    assert status == 200 and 'value="invoice"' in page and 'value="Invoices"' in page, page
    assert 'value="Away &quot;until&quot; Monday"' in page and "checked" in page, page


def test_brute_force_is_throttled(portal):
    """Last: it gets 127.0.0.1 blocked by authd for every later login."""
    statuses = []
    for i in range(12):
        status, _, page = portal.request("POST", "/login", form={"username": USER, "password": f"guess {i}"})
        statuses.append(status)
        if status == 429:
            assert "Too many failed sign-ins" in page
            break
    assert statuses[-1] == 429, statuses
    # Even the right password is refused now, as for IMAP and SMTP.
    status, _, _ = portal.request("POST", "/login", form={"username": USER, "password": PASSWORD})
    assert status == 429
    assert portal.metric("postline_webd_portal_logins_total", {"outcome": "throttled"}) >= 1


def test_admin_token_and_session_key_from_files(fresh_platform_factory, tmp_path):
    """A platform whose admin APIs need the bearer token: webd reads auth.admin_token_file for the
    account and sent-mail pages; with web.session_secret_file a session outlives a webd restart."""
    token = tmp_path / "admin-token"
    token.write_text(secrets.token_urlsafe(32) + "\n")
    key = tmp_path / "session-secret"
    key.write_text(secrets.token_hex(32) + "\n")
    p = fresh_platform_factory({"POSTLINE_AUTH_ADMIN_TOKEN_FILE": str(token)})
    p.add_user(USER, PASSWORD)
    web = Https(p, p.start_webd({"POSTLINE_WEB_SESSION_SECRET_FILE": str(key)}))
    cookie = web.login(USER, PASSWORD)
    for path in ("/app-passwords", "/sent.json", "/quota"):
        status, _, body = web.request("GET", path, cookie=cookie)
        assert status == 200, (path, status, body)
    p.stop("webd")
    web = Https(p, p.start_webd())
    status, _, _ = web.request("GET", "/sent.json", cookie=cookie)
    assert status == 200, "the same key signs and checks after a restart"
