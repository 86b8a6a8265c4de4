// The call page's start: shows the page's state on window.lancall, keeps errors nothing caught,
// wires each part of the page, and opens the camera and microphone for the preview.
import { $ } from './dom.js';
import { S } from './state.js';
import { initPrejoin } from './prejoin.js';
import { initDevices, refreshDevices, startPreview } from './devices.js';
import { initTiles } from './tiles.js';
import { initShare } from './share.js';
import { initRecording } from './record.js';
import { initPanels } from './panels.js';
import { initJoin, pageReady } from './join.js';
import { initKeyboard } from './keyboard.js';
import { initPeople } from './people.js';
import { initReactions } from './reactions.js';
import { initMore } from './more.js';
import { initTileMenu } from './tile-menu.js';
import { initThumb } from './thumb.js';
import { initFiles } from './files.js';
import { bridgeSources, sourceCounts } from '../rtc/rtc-bridge.js';

// For people debugging from the console (and the browser tests): the live state, read-only use.
window.lancall = S;
// What the Rust-backed connection sends, for the tests and the benchmark (see rtc-bridge.js).
S.bridge = { sources: bridgeSources, counts: sourceCounts };
// Errors nothing caught, kept for the console and the tests (window.lancall.errors).
const keepError = (what) => {
  S.errors.push(String(what).slice(0, 300));
  if (S.errors.length > 10) S.errors.shift();
};
window.addEventListener('error', (ev) => keepError(ev.error?.stack ?? ev.message));
window.addEventListener('unhandledrejection', (ev) => keepError(ev.reason?.stack ?? ev.reason));

// The scripts started: index.html's "did not load" notice (see js/boot.js) is not needed.
document.getElementById('boot-problem')?.remove();

initPrejoin();
initDevices();
initShare();
initRecording();
initPanels();
initJoin();
initKeyboard();
initTiles();
initPeople();
initReactions();
initMore();
initTileMenu();
initThumb();
initFiles();
refreshDevices()
  .then(startPreview)
  .catch((err) => keepError(err?.stack ?? err))
  .finally(pageReady);
if (!S.name) $('name').focus();
