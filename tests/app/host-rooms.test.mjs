// More rooms from the app's hosting screen: while the app hosts its main call, a second room is
// added by name (with how its video travels), gets a link of its own, and is listed with who is
// in it; a Chromium page joins it by that link and is counted there, not in the main call;
// "Remove" ends that room and the person in it is told the host closed it. Before that: a name
// that cannot go in a link and a name already taken are refused with a sentence, and nothing is
// added.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { runnable, withApp, launchChromium, shot } from './lib/harness.js';


/** In the app: the rooms section of the hosting screen, as a person sees it. */
function roomsShown() {
  const q = (id) => document.querySelector(`[data-testid="${id}"]`);
  const problem = q('rooms-problem');
  return {
    total: q('rooms-total').textContent,
    rooms: [...document.querySelectorAll('[data-testid="rooms"] [data-testid="room"]')].map((li) => ({
      name: li.dataset.name,
      people: Number(li.dataset.people),
      link: li.querySelector('[data-testid="room-link"]').textContent,
      text: li.textContent,
    })),
    empty: q('rooms').textContent,
    problem: problem.hidden ? '' : problem.textContent,
    inMain: document.querySelectorAll('[data-testid="participants"] [data-testid="participant"]').length,
  };
}

describe("more rooms from the app's hosting screen", runnable(), () => {
  const ctx = withApp();

  /** Types `name` in the new-room field (choosing `topology`, if given) and submits. */
  const addRoom = async (name, topology) => {
    const { s } = ctx;
    if (topology) await s.execute((t) => (document.querySelector('[data-testid="room-topology"]').value = t), topology);
    await s.execute(() => document.querySelector('[data-testid="add-room-form"]').scrollIntoView({ block: 'center' }));
    await s.type('[data-testid="room-name"]', name);
    await s.click('[data-testid="add-room"]');
  };

  test('while hosting, a room with a bad or taken name is refused with a sentence', async () => {
    const { s } = ctx;
    await s.click('[data-testid="topology-mesh"]');
    await s.click('[data-testid="host-call"]');
    await s.waitFor(() => !document.querySelector('[data-testid="hosting"]').hidden && document.querySelector('[data-testid="join-link"]').textContent.startsWith('https://'), { what: 'hosting with its link' });
    let r = await s.execute(roomsShown);
    assert.equal(r.total, '0');
    assert.equal(r.empty, 'Only the main room.');
    const topologies = await s.execute(() => [...document.querySelectorAll('[data-testid="room-topology"] option')].map((o) => o.value));
    assert.deepEqual(topologies, ['auto', 'sfu', 'mesh'], 'the new room may carry its video any way the main one could');

    await addRoom('stand up!');
    r = await s.waitFor(() => {
      const x = document.querySelector('[data-testid="rooms-problem"]');
      return x.hidden ? null : x.textContent;
    }, { what: 'a sentence about the name' });
    assert.match(r, /letters, digits, dots, dashes or underscores/);
    // The command checks too (the page is not the only caller): the hub's own sentence.
    const e = await s.run(() => window.__TAURI__.core.invoke('host_add_room', { name: '../etc' }).then(() => null, (err) => err));
    assert.equal(e?.code, 'bad-host-option', JSON.stringify(e));
    assert.match(e.message, /could not be made/);
    const main = await s.execute(() => window.lancallHome.hosting.room);
    await addRoom(main);
    r = await s.waitFor(() => {
      const x = document.querySelector('[data-testid="rooms-problem"]');
      return x.hidden || !x.textContent.includes('already') ? null : x.textContent;
    }, { what: 'the taken name refused' });
    assert.match(r, new RegExp(`There is a room called "${main}" already`));
    assert.equal((await s.execute(roomsShown)).total, '0', 'nothing was added');
  });

  test('a room added from the hosting screen has its own link; a browser joins it, and Remove tells that person', async (t) => {
    const { s } = ctx;
    await addRoom('standup', 'sfu');
    let r = await s.waitFor(() => {
      const x = document.querySelectorAll('[data-testid="rooms"] [data-testid="room"]');
      return x.length === 1 ? true : null;
    }, { what: 'the new room listed' });
    r = await s.execute(roomsShown);
    t.diagnostic(`listed: ${r.rooms[0].text}`);
    assert.equal(r.total, '1');
    assert.equal(r.problem, '');
    const [standup] = r.rooms;
    assert.equal(standup.name, 'standup');
    assert.equal(standup.people, 0);
    assert.match(standup.text, /through this computer/);
    assert.match(standup.link, /^https:\/\/.+#room=standup&token=[0-9a-f]{32}&fp=[0-9a-f]{64}$/, 'a link of its own, private as the main one');
    const mainLink = await s.execute(() => document.querySelector('[data-testid="join-link"]').textContent);
    assert.notEqual(new URL(standup.link).hash.match(/token=([0-9a-f]+)/)[1], new URL(mainLink).hash.match(/token=([0-9a-f]+)/)?.[1], 'its own token');
    await shot(s, 'rooms-1-added', 'rooms');

    ctx.browser = await launchChromium();
    const context = await ctx.browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') console.log(`# [Grace's page] ${m.text()}`);
    });
    await page.goto(standup.link);
    await page.fill('[data-testid="name"]', 'Grace');
    await page.click('[data-testid="join"]');
    await page.waitForSelector('[data-testid="hangup"]', { state: 'visible', timeout: 20_000 });
    r = await s.waitFor(() => {
      const li = document.querySelector('[data-testid="rooms"] [data-testid="room"][data-name="standup"]');
      return li && li.dataset.people === '1' ? li.textContent : null;
    }, { what: 'Grace counted in the standup room' });
    assert.match(r, /1 person/);
    assert.equal((await s.execute(roomsShown)).inMain, 0, 'Grace is not in the main call');
    await shot(s, 'rooms-2-someone-in', 'rooms');

    await s.click('[data-testid="remove-room"]');
    await s.waitFor(() => document.querySelectorAll('[data-testid="rooms"] [data-testid="room"]').length === 0, { what: 'the room gone from the list' });
    r = await s.execute(roomsShown);
    assert.equal(r.total, '0');
    assert.equal(r.problem, '');
    await page.waitForFunction(() => (document.getElementById('banner-text')?.textContent ?? '').includes('closed the room'), null, { timeout: 15_000 });
    const banner = await page.evaluate(() => document.getElementById('banner-text').textContent);
    t.diagnostic(`Grace's page: ${banner}`);
    assert.match(banner, /The host closed the room "standup"/);
    // Its link no longer lets anyone in; the main call goes on.
    const again = await s.run(() => window.__TAURI__.core.invoke('host_remove_room', { name: 'standup' }).then(() => null, (err) => err));
    assert.equal(again?.code, 'bad-host-option');
    const mainGone = await s.run((room) => window.__TAURI__.core.invoke('host_remove_room', { name: room }).then(() => null, (err) => err), await s.execute(() => window.lancallHome.hosting.room));
    assert.match(mainGone?.message ?? '', /main room ends when you stop hosting/);
    assert.equal(await s.execute(() => document.querySelector('[data-testid="hosting"]').hidden), false, 'still hosting');
    await context.close();
  });
});
