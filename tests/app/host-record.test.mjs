// Recording a call from the app's hosting screen. The app hosts with its media through this
// computer (topology sfu, chosen on the home screen), two Chromium pages join by its link (the
// app itself stays out of its call), "Record the call" starts the host's recording (everyone's
// REC sign says so), "Stop recording" ends it, and the hosting screen lists the files made: they
// are in recordings/ in the app's data folder, with the sizes listed, and Debian's ffprobe reads
// VP8 (and Opus) in them. Before that: a mesh room's button is disabled with a sentence saying
// why, and a topology the app does not know is refused with nothing started. After: a full disk
// (a 1 MiB tmpfs over the folder, as root) stops the recording with a sentence and what was
// written is listed and plays; and an `auto` room offers recording once a third person moves it
// through this computer.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { runnable, startApp, homeReady, launchChromium, sleep, shot } from './lib/harness.js';


/** What Debian's ffprobe reads of a file: its codecs and duration in seconds. */
function probe(file) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name:format=duration', '-of', 'json', file]);
  const json = JSON.parse(out.toString());
  return { codecs: json.streams.map((s) => s.codec_name), duration: Number(json.format.duration) };
}

/** A size as the hosting screen shows it. */
const megabytes = (bytes) => (bytes < 5e4 ? '< 0.1 MB' : `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`);

/** In the app: the recording controls of the hosting screen, as a person sees them. */
function recordControls() {
  const q = (id) => document.querySelector(`[data-testid="${id}"]`);
  const button = q('host-record');
  const problem = q('host-record-problem');
  return {
    hosting: !q('hosting').hidden,
    state: button.dataset.state ?? '',
    label: button.textContent,
    disabled: button.disabled,
    title: button.title,
    status: q('host-record-state').textContent,
    hint: q('host-record-hint').textContent,
    problem: problem.hidden ? '' : problem.textContent,
    media: q('hosting-media').textContent,
    files: [...document.querySelectorAll('[data-testid="recordings"] [data-testid="recording-file"]')].map((li) => ({
      name: li.dataset.name,
      bytes: Number(li.dataset.bytes),
      shown: li.textContent,
    })),
    total: q('recordings-total').textContent,
    folder: q('recordings-folder').textContent,
  };
}

/** In a Chromium page: the REC sign's text ('' when hidden). */
function recSign() {
  const ind = document.getElementById('rec-indicator');
  return ind && !ind.hidden ? document.getElementById('rec-text')?.textContent ?? '' : '';
}

/** In a Chromium page: frames decoded of the person called `name` (0 until their picture comes). */
async function framesFrom(name) {
  const call = window.lancall.call;
  const r = call?.participants.find((p) => p.name === name);
  if (!r) return 0;
  const main = r.mainStream?.getVideoTracks()[0]?.id;
  let frames = 0;
  (await call.getStats(r))?.forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video' && s.trackIdentifier === main) frames = s.framesDecoded ?? 0;
  });
  return frames;
}

describe("recording the call from the app's hosting screen", runnable(), () => {
  let app;
  let browser;
  let s;
  const pages = [];

  before(async () => {
    app = await startApp();
    s = app.session;
    await homeReady(s);
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await app?.stop().catch(() => {});
  });

  const hostWith = async (topology) => {
    await s.click(`[data-testid="topology-${topology}"]`);
    await s.click('[data-testid="host-call"]');
    return s.waitFor(() => {
      const link = document.querySelector('[data-testid="join-link"]')?.textContent ?? '';
      return !document.querySelector('[data-testid="hosting"]').hidden && link.startsWith('https://') && document.querySelector('[data-testid="host-record"]').dataset.state ? link : null;
    }, { what: `hosting (${topology}) with its link and recording controls` });
  };

  const stopHosting = async () => {
    await s.click('[data-testid="stop-hosting"]');
    await s.waitFor(() => document.querySelector('[data-testid="hosting"]').hidden && !document.querySelector('[data-testid="host-call"]').hidden, { what: 'hosting to end' });
  };

  test('the home screen offers the three ways; a bad one is refused with nothing started', async () => {
    const options = await s.execute(() => [...document.querySelectorAll('[data-testid="host-topology"] input')].map((i) => [i.value, i.checked, i.closest('label').textContent]));
    assert.deepEqual(options.map(([v]) => v), ['auto', 'sfu', 'mesh']);
    const first = await s.run(() => window.__TAURI__.core.invoke('app_info'));
    assert.deepEqual(options.filter(([, checked]) => checked).map(([v]) => v), [first.settings.host_topology], 'the saved choice (on a first run, the default) is picked');
    assert.match(options[0][2], /Automatic.*directly for two, through this computer from three/);
    assert.match(options[1][2], /Through this computer/);
    assert.match(options[2][2], /Directly between devices/);
    await shot(s, 'rec-0-topology-choice', 'host-topology');
    const refused = await s.run(() => window.__TAURI__.core.invoke('start_hosting', { topology: 'ring' }).then(() => null, (e) => e));
    assert.equal(refused?.code, 'bad-host-option', JSON.stringify(refused));
    assert.match(refused.message, /"ring" is not a way to carry a call's media/);
    const info = await s.run(() => window.__TAURI__.core.invoke('app_info'));
    assert.equal(info.hosting, null, 'nothing started');
    const recorded = await s.run(() => window.__TAURI__.core.invoke('host_record', { active: true }).then(() => null, (e) => e));
    assert.equal(recorded?.code, 'not-hosting');
  });

  test('a call whose video goes directly between devices cannot be recorded: the button says why', async () => {
    await hostWith('mesh');
    const c = await s.execute(recordControls);
    assert.equal(c.state, 'unavailable', JSON.stringify(c));
    assert.equal(c.disabled, true);
    assert.match(c.hint, /directly between devices, not through this computer/);
    assert.equal(c.title, c.hint, 'the disabled button says why too');
    assert.match(c.media, /directly between devices/);
    assert.deepEqual(c.files, []);
    await shot(s, 'rec-1-mesh-disabled', 'host-record');
    // The command refuses it too, with the same sentence.
    const e = await s.run(() => window.__TAURI__.core.invoke('host_record', { active: true }).then(() => null, (err) => err));
    assert.equal(e?.code, 'host-recording');
    assert.match(e.message, /directly between devices/);
    await stopHosting();
  });

  test('through this computer: Record, everyone is told, Stop; the files are listed, on disk, and hold VP8', async (t) => {
    const link = await hostWith('sfu');
    let c = await s.execute(recordControls);
    assert.equal(c.state, 'ready', JSON.stringify(c));
    assert.equal(c.disabled, false);
    assert.match(c.media, /through this computer/);
    // The choice is kept for next time.
    const settings = JSON.parse(readFileSync(path.join(app.home, 'lancall', 'settings.json'), 'utf8'));
    assert.equal(settings.host_topology, 'sfu');

    browser = await launchChromium();
    for (const name of ['Grace', 'Hedy']) {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      page.on('console', (m) => {
        if (m.type() === 'error') console.log(`# [${name}'s page] ${m.text()}`);
      });
      await page.goto(link);
      await page.fill('[data-testid="name"]', name);
      await page.click('[data-testid="join"]');
      await page.waitForSelector('[data-testid="hangup"]', { state: 'visible', timeout: 20_000 });
      pages.push({ name, page });
    }
    await s.waitFor(() => document.querySelectorAll('[data-testid="participants"] [data-testid="participant"]').length === 2, { what: 'Grace and Hedy in the participant list' });
    // Pictures flow through the app's SFU both ways before anything is recorded.
    const [grace, hedy] = pages;
    for (const [p, other] of [[grace, 'Hedy'], [hedy, 'Grace']]) {
      const end = Date.now() + 45_000;
      while ((await p.page.evaluate(framesFrom, other)) < 5) {
        if (Date.now() > end) throw new Error(`${p.name} never decoded ${other} through the app's SFU`);
        await sleep(250);
      }
    }

    await s.click('[data-testid="host-record"]');
    c = await s.waitFor(() => {
      const x = document.querySelector('[data-testid="host-record"]');
      return x.dataset.state === 'recording' && !x.disabled ? x.textContent : null;
    }, { timeout: 15_000, what: 'the recording to start' });
    assert.equal(c, 'Stop recording');
    const started = Date.now();
    c = await s.execute(recordControls);
    assert.equal(c.status, '● Recording');
    assert.equal(c.problem, '');
    for (const p of pages) {
      await p.page.waitForFunction(recSign, null, { timeout: 15_000 });
      assert.match(await p.page.evaluate(recSign), /Recorded by the host/, `${p.name}'s REC sign`);
    }
    await shot(s, 'rec-2-recording', 'host-record');
    // A few seconds of both people.
    await sleep(4000);

    await s.click('[data-testid="host-record"]');
    c = await s.waitFor(() => {
      const x = document.querySelector('[data-testid="host-record"]');
      const files = document.querySelectorAll('[data-testid="recordings"] [data-testid="recording-file"]');
      return x.dataset.state === 'ready' && !x.disabled && files.length >= 2 ? x.textContent : null;
    }, { timeout: 20_000, what: 'the recording to stop and its files to be listed' });
    const recorded = (Date.now() - started) / 1000;
    assert.equal(c, 'Record the call');
    for (const p of pages) await p.page.waitForFunction(() => !document.getElementById('rec-indicator') || document.getElementById('rec-indicator').hidden, null, { timeout: 15_000 });
    c = await s.execute(recordControls);
    t.diagnostic(`recorded ${recorded.toFixed(1)} s; listed: ${c.files.map((f) => f.shown).join(' | ')}`);
    assert.equal(c.problem, '');
    assert.equal(c.total, String(c.files.length));
    const folder = path.join(app.home, 'lancall', 'recordings');
    assert.equal(c.folder, `Saved in ${folder}.`);
    for (const name of ['Grace', 'Hedy']) {
      assert.ok(c.files.some((f) => f.name.startsWith(`call_${name}_`) && f.name.endsWith('.webm')), `a file for ${name}: ${JSON.stringify(c.files)}`);
    }
    for (const f of c.files) {
      const file = path.join(folder, f.name);
      assert.ok(existsSync(file), `${file} exists`);
      assert.equal(statSync(file).size, f.bytes, `${f.name}: the size listed is the file's`);
      assert.ok(f.shown.endsWith(megabytes(f.bytes)), `${f.name}: shown as "${f.shown}", ${f.bytes} bytes`);
      const p = probe(file);
      t.diagnostic(`${f.name}: ${p.codecs.join('+')} ${p.duration.toFixed(2)} s, ${f.bytes} bytes`);
      assert.ok(p.codecs.includes('vp8'), `${f.name} holds VP8: ${p.codecs}`);
      assert.ok(p.codecs.includes('opus'), `${f.name} holds Opus: ${p.codecs}`);
    }
    // Each person's files together last about the time recorded (they were there throughout).
    for (const name of ['Grace', 'Hedy']) {
      const total = c.files.filter((f) => f.name.startsWith(`call_${name}_`)).reduce((sum, f) => sum + probe(path.join(folder, f.name)).duration, 0);
      assert.ok(total > recorded * 0.7 && total < recorded + 1, `${name}: ${total.toFixed(2)} s in the files of ${recorded.toFixed(2)} s recorded`);
    }
    await shot(s, 'rec-3-recordings', 'recordings');
  });

  test('a full disk stops the recording with a sentence; what was written is listed and plays', async (t) => {
    const folder = path.join(app.home, 'lancall', 'recordings');
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'lancall-full-disk', folder], { stdio: 'pipe' });
    } catch (err) {
      t.skip(`no small tmpfs here (${String(err.stderr ?? err.message).trim()})`);
      return;
    }
    try {
      await s.click('[data-testid="host-record"]');
      // Either the start already finds no room, or (usually) the files fill up within seconds:
      // both end with the button ready again and a sentence saying why.
      const c = await s.waitFor(() => {
        const x = document.querySelector('[data-testid="host-record"]');
        const problem = document.querySelector('[data-testid="host-record-problem"]');
        return x.dataset.state === 'ready' && !x.disabled && !problem.hidden ? problem.textContent : null;
      }, { timeout: 30_000, what: 'the recording to stop by itself on the full disk' });
      t.diagnostic(`shown: ${c}`);
      assert.match(c, /disk is full|No space left/i);
      await shot(s, 'rec-4-disk-full', 'host-record');
      const listed = await s.execute(recordControls);
      for (const f of listed.files.filter((x) => x.name.startsWith('call_'))) {
        const file = path.join(folder, f.name);
        assert.ok(existsSync(file), `${f.name} listed from the full folder`);
        if (f.bytes === 0) continue;
        const p = probe(file);
        t.diagnostic(`${f.name}: ${p.codecs.join('+')} ${p.duration.toFixed(2)} s, ${f.bytes} bytes`);
        assert.ok(p.codecs.includes('vp8'), `${f.name} still plays: ${p.codecs}`);
      }
      // The call goes on: the two still see each other.
      const [grace] = pages;
      const before = await grace.page.evaluate(framesFrom, 'Hedy');
      const end = Date.now() + 15_000;
      while ((await grace.page.evaluate(framesFrom, 'Hedy')) <= before) {
        if (Date.now() > end) throw new Error('Grace stopped seeing Hedy after the disk filled');
        await sleep(250);
      }
    } finally {
      execFileSync('umount', [folder]);
    }
  });

  test('automatic: two people talk directly (no recording); a third moves it through this computer and Record is offered', async () => {
    for (const p of pages.splice(0)) await p.page.context().close();
    await stopHosting();
    const link = await hostWith('auto');
    const joinAs = async (name) => {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      await page.goto(link);
      await page.fill('[data-testid="name"]', name);
      await page.click('[data-testid="join"]');
      await page.waitForSelector('[data-testid="hangup"]', { state: 'visible', timeout: 20_000 });
      pages.push({ name, page });
    };
    await joinAs('Grace');
    await joinAs('Hedy');
    await s.waitFor(() => document.querySelectorAll('[data-testid="participants"] [data-testid="participant"]').length === 2, { what: 'two in the call' });
    let c = await s.execute(recordControls);
    assert.equal(c.state, 'unavailable', JSON.stringify(c));
    assert.match(c.hint, /directly between them.*from three people on/);
    assert.match(c.media, /directly between two people/);
    await joinAs('Cy');
    // The hub moves the room through this computer (its topology event): the button follows.
    c = await s.waitFor(() => {
      const x = document.querySelector('[data-testid="host-record"]');
      return x.dataset.state === 'ready' && !x.disabled ? document.querySelector('[data-testid="hosting-media"]').textContent : null;
    }, { timeout: 20_000, what: 'Record offered once three people are in the call' });
    assert.match(c, /through this computer now/);
    await shot(s, 'rec-5-auto-three', 'hosting-media');
  });
});
