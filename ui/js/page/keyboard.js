// Keyboard shortcuts: M microphone, V camera, S share screen, R record, C chat, I statistics,
// Shift+H leave, Esc closes a panel or menu (index.html's aria-keyshortcuts say the same).
import { S } from './state.js';
import { toggleMic, toggleCam } from './devices.js';
import { canShare, toggleScreen } from './share.js';
import { canRecord, onRecordButton, recordMenuOpen, toggleRecordMenu } from './record.js';
import { openPanel, togglePanel } from './panels.js';
import { hangup } from './join.js';

function onKey(ev) {
  if (ev.key === 'Escape') {
    if (recordMenuOpen()) toggleRecordMenu(false);
    else if (S.panel) openPanel(null);
    return;
  }
  const tag = ev.target?.tagName;
  if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA' || ev.target?.isContentEditable) return;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const key = ev.key.toLowerCase();
  const inCall = S.phase === 'incall';
  const actions = {
    m: toggleMic,
    v: toggleCam,
    s: inCall && canShare() ? toggleScreen : null,
    r: inCall && canRecord() ? onRecordButton : null,
    c: inCall ? () => togglePanel('chat') : null,
    i: inCall ? () => togglePanel('stats') : null,
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
