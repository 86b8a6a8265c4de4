// The call screen's side panels: chat (messages, unread badge), people (people.js), statistics
// (per connection, every second while open) and settings (the device settings moved in from the
// pre-join card); and the connection-quality watch that feeds the tiles' signal bars.
import { $, el, announce } from './dom.js';
import { S } from './state.js';
import { layoutGrid, renderRemote } from './tiles.js';
import { refreshDevices } from './devices.js';
import { renderInvite, renderPeople } from './people.js';
import { summarize, statRows, quality } from '../lib/stats.js';

/** panel -> [its element, its button, its title] */
const PANELS = {
  chat: ['chat-panel', 'open-chat', 'Chat'],
  people: ['people-panel', 'open-people', 'People'],
  stats: ['stats-panel', 'open-stats', 'Statistics'],
  settings: ['settings-panel', 'open-settings', 'Settings'],
};

/** @param {'chat'|'people'|'stats'|'settings'} name */
export function togglePanel(name) {
  openPanel(S.panel === name ? null : name);
}

/** Opens one panel (closing the others), or closes them all with null. */
export function openPanel(name) {
  S.panel = name;
  for (const [key, [panelId, buttonId]] of Object.entries(PANELS)) {
    $(panelId).hidden = key !== name;
    $(buttonId).setAttribute('aria-pressed', String(key === name));
  }
  $('sidepanel').hidden = !name;
  clearInterval(S.statsTimer);
  if (name) $('panel-title').textContent = PANELS[name][2];
  if (name === 'chat') {
    S.unread = 0;
    $('chat-badge').hidden = true;
    $('chat-input').focus();
  }
  if (name === 'stats') {
    renderStats();
    S.statsTimer = setInterval(renderStats, 1000);
  }
  if (name === 'settings') refreshDevices();
  if (name === 'people') {
    renderPeople();
    renderInvite();
  }
  requestAnimationFrame(layoutGrid);
}

// ---- chat ----------------------------------------------------------------------------------

function chatLine({ who = '', text, mine = false, system = false, at = Date.now() }) {
  const time = new Date(at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  const li = el(
    'li',
    { class: system ? 'system' : mine ? 'mine' : '' },
    system ? null : el('span', { class: 'who', text: who }, el('time', { text: time })),
    el('span', { class: 'text', text }),
  );
  const log = $('chat-log');
  log.append(li);
  log.scrollTop = log.scrollHeight;
}

function onChatSubmit(ev) {
  ev.preventDefault();
  const input = $('chat-input');
  const text = input.value.trim();
  if (!text || !S.call) return;
  const sent = S.call.sendChat(text);
  chatLine({ who: 'You', text, mine: true });
  if (sent === 0) chatLine({ system: true, text: 'Nobody else is connected yet, so nobody got this message.' });
  input.value = '';
}

/** A message from someone in the call (call.js's `chat` event). */
export function onChat({ remote, text, at }) {
  chatLine({ who: remote.name, text, at });
  if (S.panel !== 'chat') {
    S.unread += 1;
    const b = $('chat-badge');
    b.textContent = String(S.unread);
    b.hidden = false;
    announce(`Message from ${remote.name}: ${text}`);
  }
}

// ---- statistics ----------------------------------------------------------------------------

let statsBusy = false;
async function renderStats() {
  if (statsBusy || !S.call) return;
  statsBusy = true;
  try {
    const panel = $('stats-panel');
    const parts = S.call.participants;
    if (!parts.length) {
      panel.replaceChildren(el('p', { class: 'hint', text: 'Nobody else is in the call yet.' }));
      return;
    }
    const sections = [];
    for (const r of parts) {
      const s = await sample(r);
      if (!s) continue;
      const dl = el('dl');
      for (const [k, v] of statRows(s, { cameraOff: r.state.muted.video, relayed: r.relay })) dl.append(el('dt', { text: k }), el('dd', { text: v }));
      sections.push(
        el('section', { 'data-peer': r.id ?? '', 'data-testid': 'peer-stats' },
          el('h3', { text: `${r.name} · ${r.connectionState}` }), dl),
      );
    }
    panel.replaceChildren(...sections);
  } finally {
    statsBusy = false;
  }
}

/**
 * One statistics sample of a connection (kept as the next sample's baseline); updates the
 * remote's connection quality, which its tile and the People panel show.
 * @param {any} r call.js's Remote
 */
async function sample(r) {
  const report = await S.call?.getStats(r);
  if (!report) return null;
  const s = summarize(report, S.statsPrev.get(r) ?? null);
  S.statsPrev.set(r, s);
  const q = r.connectionState === 'connected' ? quality(s) : null;
  if (q !== (r.quality ?? null)) {
    r.quality = q;
    renderRemote(r);
    if (S.panel === 'people') renderPeople();
  }
  return s;
}

/** Every 2 s in a call (the stats panel samples every second itself while open). */
async function watchQuality() {
  if (S.phase !== 'incall' || !S.call || S.panel === 'stats') return;
  for (const r of S.call.participants) {
    try {
      await sample(r);
    } catch (err) {
      console.warn('lancall: stats failed', err);
    }
  }
}

/** Shows the statistics again at once if their panel is open (someone came or changed). */
export function refreshStatsIfOpen() {
  if (S.panel === 'stats') renderStats();
}

export function initPanels() {
  $('open-chat').addEventListener('click', () => togglePanel('chat'));
  $('open-stats').addEventListener('click', () => togglePanel('stats'));
  $('open-people').addEventListener('click', () => togglePanel('people'));
  setInterval(watchQuality, 2000);
  $('open-settings').addEventListener('click', () => togglePanel('settings'));
  $('panel-close').addEventListener('click', () => openPanel(null));
  $('chat-form').addEventListener('submit', onChatSubmit);
}
