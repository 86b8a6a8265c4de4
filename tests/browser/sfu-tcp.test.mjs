// ICE-TCP: on a network that lets no UDP through to the host's media port, a call through the
// host (SFU) still comes up, over the TCP candidate the SFU offers beside its UDP one. UDP to
// the media port is refused inside the test's namespace by a policy-routing rule (this
// kernel has no netfilter or tc actions), and put back afterwards.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runnable, startHost, launchBrowser, joinCall, waitForVideo, waitForAudio, closeAll, sfuPath, ip } from './lib/harness.js';

describe('a call through the host when UDP is blocked (ICE-TCP)', runnable(), () => {
  let host;
  let browser;
  const peers = [];
  let blocked = null;

  before(async () => {
    host = await startHost({ topology: 'sfu' });
    // The local table is looked up first (pref 0): move it after a rule that refuses UDP to
    // the media port, for every page in this namespace.
    const port = String(host.ready.media_port);
    ip('rule', 'add', 'pref', '100', 'lookup', 'local');
    ip('rule', 'del', 'pref', '0');
    ip('rule', 'add', 'pref', '10', 'ipproto', 'udp', 'dport', port, 'prohibit');
    blocked = port;
    browser = await launchBrowser();
  });

  after(async () => {
    await closeAll(peers.map((p) => p.context), browser);
    if (blocked) {
      ip('rule', 'del', 'pref', '10');
      ip('rule', 'add', 'pref', '0', 'lookup', 'local');
      ip('rule', 'del', 'pref', '100');
    }
    await host?.stop();
    host?.cleanup();
  });

  test('two pages see and hear each other over TCP to the host', async (t) => {
    for (const name of ['Ada', 'Bob']) peers.push(await joinCall(browser, host.joinUrl, name, { quality: '360p' }));
    const [ada, bob] = peers;
    await waitForVideo(ada.page, bob.id, { timeout: 45_000, frames: 10 });
    await waitForVideo(bob.page, ada.id, { timeout: 45_000, frames: 10 });
    await waitForAudio(ada.page, bob.id, { timeout: 30_000 });
    for (const p of peers) {
      const path = await sfuPath(p.page);
      t.diagnostic(`${p.name}: ${JSON.stringify(path)}`);
      assert.equal(path?.protocol, 'tcp', `${p.name} reaches the SFU over TCP: ${JSON.stringify(path)}`);
    }
  });
});
