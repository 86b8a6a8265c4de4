// Trust without warnings: a browser whose certificate store trusts only the host's exported CA
// opens the HTTPS join link by IP address with no certificate error; the same browser without
// the CA (or with another host's CA) gets one. Real Chromium, real NSS database (certutil), real
// lancall-host inside the test namespace. Run through tests/browser/run.sh (it makes the
// namespace): `tests/browser/run.sh test trust/trust.test.mjs`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { startHost, runnable, whyNotRunnable, BASE_FLAGS, CHROMIUM, HOST_ADDR } from '../browser/lib/harness.js';

const certutil = (() => {
  try {
    execFileSync('certutil', ['-H'], { stdio: 'ignore' });
    return true;
  } catch (e) {
    return e.code !== 'ENOENT';
  }
})();

/** A fresh HOME whose NSS database (what Chromium on Linux reads) trusts exactly `caFiles`. */
function homeTrusting(caFiles) {
  const home = mkdtempSync(path.join(tmpdir(), 'lancall-trust-home-'));
  const db = path.join(home, '.pki', 'nssdb');
  mkdirSync(db, { recursive: true });
  execFileSync('certutil', ['-N', '-d', `sql:${db}`, '--empty-password']);
  caFiles.forEach((file, i) => {
    execFileSync('certutil', ['-A', '-d', `sql:${db}`, '-t', 'C,,', '-n', `lancall-ca-${i}`, '-i', file]);
  });
  return home;
}

async function open(home, url) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: BASE_FLAGS,
    env: { ...process.env, HOME: home },
    timeout: 30_000,
  });
  // No ignoreHTTPSErrors: certificate errors must show.
  const page = await browser.newPage();
  try {
    const response = await page.goto(url, { timeout: 15_000 });
    return { ok: true, status: response?.status(), secure: await page.evaluate(() => window.isSecureContext), title: await page.title() };
  } catch (e) {
    return { ok: false, error: String(e.message || e) };
  } finally {
    await browser.close();
  }
}

test('a browser that trusts the exported CA opens the join link by IP with no warning; without it, a certificate error', { skip: !runnable() ? whyNotRunnable() : !certutil ? 'certutil is missing: apt-get install libnss3-tools' : false, timeout: 120_000 }, async () => {
  const host = await startHost();
  const other = await startHost(); // another host: its CA must not open this one
  const dirs = [];
  try {
    assert.match(host.joinUrl, new RegExp(`^https://${HOST_ADDR.replaceAll('.', '\\.')}:\\d+/#room=call&token=[0-9a-f]{32}&fp=[0-9a-f]{64}$`));
    // Get the CA the way a person does: from the plain-HTTP trust page's download link.
    const caUrl = `http://${HOST_ADDR}:${host.httpPort}/ca.crt`;
    const der = Buffer.from(await (await fetch(caUrl)).arrayBuffer());
    const otherDer = Buffer.from(await (await fetch(`http://${HOST_ADDR}:${other.httpPort}/ca.crt`)).arrayBuffer());
    const work = mkdtempSync(path.join(tmpdir(), 'lancall-trust-'));
    dirs.push(work);
    writeFileSync(path.join(work, 'ca.crt'), der);
    writeFileSync(path.join(work, 'other.crt'), otherDer);
    // The file's fingerprint is the one in the link.
    const fp = execFileSync('openssl', ['x509', '-inform', 'DER', '-in', path.join(work, 'ca.crt'), '-noout', '-fingerprint', '-sha256']).toString();
    assert.equal(fp.split('=')[1].trim().replaceAll(':', '').toLowerCase(), host.ready.ca_sha256);

    const trusting = homeTrusting([path.join(work, 'ca.crt')]);
    const untrusting = homeTrusting([]);
    const wrong = homeTrusting([path.join(work, 'other.crt')]);
    dirs.push(trusting, untrusting, wrong);

    const good = await open(trusting, host.joinUrl);
    assert.equal(good.ok, true, `no certificate error expected: ${good.error}`);
    assert.equal(good.status, 200);
    assert.equal(good.secure, true, 'a secure context, so camera and microphone are allowed');
    assert.match(good.title, /lancall/i);

    const bad = await open(untrusting, host.joinUrl);
    assert.equal(bad.ok, false, 'a browser without the CA must get a certificate error');
    assert.match(bad.error, /ERR_CERT_AUTHORITY_INVALID|ERR_CERT/);

    const impostor = await open(wrong, host.joinUrl);
    assert.equal(impostor.ok, false, "another host's CA does not vouch for this host");
    assert.match(impostor.error, /ERR_CERT/);
  } finally {
    await host.stop();
    await other.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});
