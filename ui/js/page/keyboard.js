// Keyboard shortcuts: M microphone, V camera, S share screen, H raise hand, E reactions, R record,
// C chat, P people, I statistics, F full screen, ? the shortcut sheet, Shift+H leave, Esc closes
// a menu (a tile's too), the sheet or a panel (index.html's aria-keyshortcuts and more.js's SHORTCUTS say the same).
import { S } from './state.js';
import { toggleMic, toggleCam } from './devices.js';
import { canShare, toggleScreen } from './share.js';
import { canRecord, onRecordButton, recordMenuOpen, toggleRecordMenu } from './record.js';
import { openPanel, togglePanel } from './panels.js';
import { hangup } from './join.js';
import { toggleHand, reactMenuOpen, toggleReactMenu } from './reactions.js';
import { closeShortcuts, moreMenuOpen, showShortcuts, toggleFullscreen, toggleMoreMenu } from './more.js';
import { closeTileMenu } from './tile-menu.js';

function onKey(ev) {
  if (ev.key === 'Escape') {
    if (closeTileMenu({ focus: true })) ev.preventDefault();
    else if (recordMenuOpen()) toggleRecordMenu(false);
    else if (reactMenuOpen()) toggleReactMenu(false);
    else if (moreMenuOpen()) toggleMoreMenu(false);
    else if (closeShortcuts()) ev.preventDefault();
    // Browsers leave full screen on Esc before the page sees it; an engine that does not (or
    // passes the key on) leaves it here.
    else if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else if (S.panel) openPanel(null);
    return;
  }
  const tag = ev.target?.tagName;
  if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA' || ev.target?.isContentEditable) return;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const key = ev.key.toLowerCase();
  const inCall = S.phase === 'incall';
  if (key === '?' && inCall) {
    ev.preventDefault();
    showShortcuts();
    return;
  }
  const actions = {
    m: toggleMic,
    v: toggleCam,
    s: inCall && canShare() ? toggleScreen : null,
    h: inCall ? toggleHand : null,
    e: inCall ? () => toggleReactMenu() : null,
    r: inCall && canRecord() ? onRecordButton : null,
    c: inCall ? () => togglePanel('chat') : null,
    p: inCall ? () => togglePanel('people') : null,
    i: inCall ? () => togglePanel('stats') : null,
    f: inCall ? toggleFullscreen : null,
  };
  if (key === 'h' && ev.shiftKey && inCall) {
    ev.preventDefault();
    hangup();
    return;
  }
  if (ev.shiftKey) return;
  const fn = actions[key];
  if (fn && (inCall || S.phase === 'prejoin')) {
    ev.preventDefault();
    fn();
  }
}

export function initKeyboard() {
  document.addEventListener('keydown', onKey);
}
