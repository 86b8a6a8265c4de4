// The app's home screen (only inside the lancall app): the calls found on this network, hosting
// a call (link, QR code, who is in it, knocks), and joining by link, QR code contents or typed
// address; before hosting, how the call's media travels (directly, through this computer, or
// automatically), and while hosting, recording the call on this computer and the files made. It
// sits above the call page's pre-join card (preview, name, devices, Join) and drives
// the call page only through its functions: setJoinTarget, joinCall, leaveCall, offerName,
// typedName, onScreenChange, onPreferenceChange, removeShareButton, removeRecordButton. Talks
// to the app's Rust side through Tauri commands and events (lib/tauri.js).
import { $, el } from './dom.js';
import { adoptSavedDevices, onPreferenceChange } from './state.js';
import { onScreenChange } from './screens.js';
import { DEFAULT_ROOM, setJoinTarget, offerName, typedName, showProblem as showPrejoinProblem } from './prejoin.js';
import { joinCall, leaveCall, backToPrejoin } from './join.js';
import { removeShareButton } from './share.js';
import { removeRecordButton } from './record.js';
import { parseJoinLink, ROOM_RE, TOKEN_RE } from '../lib/link.js';
import { inApp, invoke, listen } from '../lib/tauri.js';
import { bridgeAvailable } from '../rtc/rtc-bridge.js';
import { drawQr, renderPanelKnocks, setHostedLink } from './people.js';

const H = {
  hosting: null,
  hosts: [],
  chosen: null, // address of the chosen host
  busy: false,
  searched: false, // the person asked to search this network
  recordBusy: false, // a host_record command is under way
  recordProblem: null, // the last start/stop refusal, as a sentence
};

/** How the host's call carries its media: the choices, in the order the Rust side offers them. */
const TOPOLOGY_CHOICES = {
  auto: ['Automatic', 'directly for two, through this computer from three'],
  sfu: ['Through this computer', 'for groups: each device sends its video once, and this computer passes it on'],
  mesh: ['Directly between devices', 'the lowest delay; each device sends its video to every other one'],
};
// For the app tests and for people debugging from the inspector.
globalThis.lancallHome = H;

// ---- building the screen -------------------------------------------------------------------

function build() {
  document.head.append(el('link', { rel: 'stylesheet', href: 'css/home.css' }));
  document.documentElement.classList.add('in-app');

  const note = el('p', { id: 'webview-note', class: 'home-note', role: 'status', 'data-testid': 'webview-note', hidden: true });
  const hostCard = el(
    'section',
    { class: 'home-card host-card', 'aria-labelledby': 'host-title' },
    el('h2', { id: 'host-title', text: 'Host a call' }),
    el('p', { class: 'hint', id: 'host-intro', text: 'Others join from the lancall app, or from any browser with the link or QR code.' }),
    // How the media travels (topologyChoice): filled from app_info; absent where only one way
    // exists (Android hosts directly between devices).
    el('fieldset', { id: 'host-topology', class: 'topology-choice', 'data-testid': 'host-topology', hidden: true }, el('legend', { text: 'How video travels' })),
    el('button', { type: 'button', id: 'host-call', class: 'primary big', 'data-testid': 'host-call', text: 'Host a call' }),
    el(
      'div',
      { id: 'hosting', class: 'hosting', 'data-testid': 'hosting', hidden: true },
      el('p', { class: 'hosting-title' }, 'You are hosting ', el('b', { id: 'hosting-name' }), '.'),
      el('p', { class: 'hint', id: 'hosting-media', 'data-testid': 'hosting-media' }),
      el(
        'div',
        { class: 'share' },
        el('div', { id: 'join-qr', class: 'qr', 'data-testid': 'join-qr', role: 'img', 'aria-label': 'QR code of the join link' }),
        el(
          'div',
          { class: 'share-text' },
          el('span', { class: 'label', text: 'Join link' }),
          el('code', { id: 'join-link', class: 'join-link', 'data-testid': 'join-link' }),
          el('div', { class: 'row' }, el('button', { type: 'button', id: 'copy-link', class: 'secondary', 'data-testid': 'copy-link', text: 'Copy link' })),
          el('p', { class: 'words-line', id: 'hosting-words-line', hidden: true }, 'Joiners can check these words: ', el('b', { id: 'hosting-words', class: 'words', 'data-testid': 'hosting-words' })),
          el('p', { class: 'hint', id: 'hosting-detail' }),
        ),
      ),
      el('h3', {}, 'In the call ', el('span', { id: 'participant-total', class: 'count', 'data-testid': 'participant-total', text: '0' })),
      el('ul', { id: 'participants', class: 'people', 'data-testid': 'participants', 'aria-live': 'polite' }),
      el('h3', { text: 'Asking to join' }),
      // Knocks: a guest without the link's token asks the host to let them in (renderKnocks).
      el('ul', { id: 'knocks', class: 'people knocks', 'data-testid': 'knocks' }),
      // The host records the call (one file per person, on this computer): only while the
      // media goes through it (renderRecording).
      el('h3', { text: 'Recording' }),
      el(
        'div',
        { class: 'record-row' },
        el('button', { type: 'button', id: 'host-record', class: 'secondary', 'data-testid': 'host-record', text: 'Record the call' }),
        el('span', { id: 'host-record-state', class: 'record-state', role: 'status', 'data-testid': 'host-record-state' }),
      ),
      el('p', { id: 'host-record-hint', class: 'hint', 'data-testid': 'host-record-hint' }),
      el('p', { id: 'host-record-problem', class: 'record-problem', role: 'alert', 'data-testid': 'host-record-problem', hidden: true }),
      el('h3', {}, 'Recordings ', el('span', { id: 'recordings-total', class: 'count', 'data-testid': 'recordings-total', text: '0' })),
      el('ul', { id: 'recordings', class: 'people recordings', 'data-testid': 'recordings' }),
      el('p', { id: 'recordings-folder', class: 'hint recordings-folder', 'data-testid': 'recordings-folder' }),
      // More calls at once on this host, each with its own link (renderRooms).
      el('h3', {}, 'More rooms ', el('span', { id: 'rooms-total', class: 'count', 'data-testid': 'rooms-total', text: '0' })),
      el('p', { class: 'hint', text: 'Each room is a call of its own, with its own link: a stand-up beside a lesson, say.' }),
      el('ul', { id: 'rooms', class: 'people rooms', 'data-testid': 'rooms', 'aria-live': 'polite' }),
      el(
        'form',
        { id: 'add-room-form', class: 'row add-room', 'data-testid': 'add-room-form' },
        el('input', {
          id: 'room-name',
          'data-testid': 'room-name',
          'aria-label': 'Name of the new room',
          placeholder: 'Room name, e.g. standup',
          maxLength: 64,
          required: true,
          autocomplete: 'off',
        }),
        el('select', { id: 'room-topology', 'data-testid': 'room-topology', 'aria-label': 'How video travels in the new room', hidden: true }),
        el('button', { type: 'submit', id: 'add-room', class: 'secondary', 'data-testid': 'add-room', text: 'Add a room' }),
      ),
      el('p', { id: 'rooms-problem', class: 'record-problem', role: 'alert', 'data-testid': 'rooms-problem', hidden: true }),
      el(
        'div',
        { class: 'row hosting-actions' },
        el('button', { type: 'button', id: 'join-own-call', class: 'secondary', 'data-testid': 'join-own-call', text: 'Join my call' }),
        el('button', { type: 'button', id: 'stop-hosting', class: 'danger-button', 'data-testid': 'stop-hosting', text: 'End the call for everyone' }),
      ),
    ),
  );
  const joinCard = el(
    'section',
    { class: 'home-card join-card', 'aria-labelledby': 'hosts-title' },
    el('h2', { id: 'hosts-title', text: 'Calls on this network' }),
    el('p', { id: 'finder-status', class: 'hint', 'data-testid': 'finder-status', role: 'status' }),
    el('ul', { id: 'hosts', class: 'hosts', 'data-testid': 'hosts', 'aria-live': 'polite' }),
    el(
      'div',
      { class: 'row scan-row' },
      el('button', { type: 'button', id: 'scan-network', class: 'secondary', 'data-testid': 'scan-network', text: 'Search this network' }),
      el('span', { id: 'scan-status', class: 'hint', 'data-testid': 'scan-status', role: 'status' }),
    ),
    el(
      'details',
      { id: 'troubleshoot', class: 'troubleshoot', 'data-testid': 'troubleshoot' },
      el('summary', { text: 'The other device does not show up?' }),
      el(
        'ul',
        {},
        el('li', { text: 'Both must be on the same network: not a guest Wi-Fi, not one on Wi-Fi and the other on a phone\'s mobile data.' }),
        el('li', { text: 'Some Wi-Fi access points keep devices apart ("client isolation", "AP isolation") or drop the messages devices find each other with (multicast): "Search this network" asks every address instead.' }),
        el('li', { text: 'A VPN or a firewall can stand in the way: lancall uses TCP port 7443 for calls (7080 for the "trust this host" page), UDP port 5353 to find hosts (mDNS), and UDP for the media.' }),
        el('li', { text: 'Always possible: scan the host\'s QR code with the phone\'s camera, paste its link below, or type the address it shows.' }),
      ),
    ),
    el(
      'form',
      { id: 'join-address-form', class: 'join-address', noValidate: true },
      el(
        'label',
        { for: 'join-address' },
        'Join by link, QR code contents or address',
        el('input', {
          id: 'join-address',
          'data-testid': 'join-address',
          autocomplete: 'off',
          spellcheck: false,
          inputMode: 'url',
          placeholder: 'https://192.168.1.20:7443/#room=call&token=…',
        }),
      ),
      el('button', { type: 'submit', id: 'join-address-go', class: 'secondary', 'data-testid': 'join-address-go', text: 'Go' }),
    ),
    el('div', { id: 'home-problem', class: 'problem', role: 'alert', 'data-testid': 'home-problem', hidden: true }),
  );
  const home = el(
    'section',
    { id: 'home', class: 'home', 'data-testid': 'home', 'aria-label': 'lancall home' },
    el('header', { class: 'home-head' }, el('h1', { text: 'lancall' }), el('p', { class: 'hint', text: 'Video calls on this network. Nothing goes to the internet.' })),
    note,
    el('div', { class: 'home-grid' }, hostCard, joinCard),
    // The version, as the packages and `lancall-host --version` give it (one in Cargo.toml).
    el('p', { class: 'hint home-version', id: 'app-version', 'data-testid': 'app-version' }),
  );
  const app = $('app');
  app.insertBefore(home, app.firstChild);
}

// ---- problems and notes --------------------------------------------------------------------

/**
 * @param {any} err the Rust side's error ({code, message}) or any error
 * @param {Array<[string, () => void, string]>} [actions] buttons: label, what it does, test id
 */
function showProblem(err, actions = []) {
  const box = $('home-problem');
  const message = err?.message ?? String(err);
  box.replaceChildren(
    el('strong', { text: titleFor(err?.code) }),
    el('p', { text: message }),
    ...actions.map(([text, onclick, testid]) => el('button', { type: 'button', class: 'secondary', text, onclick, 'data-testid': testid })),
  );
  box.dataset.code = err?.code ?? 'error';
  box.hidden = false;
}

function titleFor(code) {
  switch (code) {
    case 'identity-changed':
      return 'This is not the host you meant.';
    case 'not-the-same-host':
      return 'Careful: another device with a known name.';
    case 'bad-certificate':
      return 'The host could not prove who it is.';
    case 'unreachable':
      return 'The host does not answer.';
    case 'no-fingerprint':
      return 'The app cannot check this host.';
    case 'bad-address':
      return 'That is not a link or address.';
    case 'host-failed':
    case 'bad-host-option':
      return 'Hosting could not start.';
    default:
      return 'Something went wrong.';
  }
}

function clearProblem() {
  $('home-problem').hidden = true;
}

function showWebviewNote() {
  // Without RTCPeerConnection the app's Rust side runs the connections (rtc-bridge.js); only
  // a webview that lacks WebCodecs too cannot take part.
  if (typeof globalThis.RTCPeerConnection === 'function' || bridgeAvailable()) return;
  const note = $('webview-note');
  note.textContent =
    'This window cannot take part in video calls itself: its web engine (WebKitGTK on this system) has no WebRTC. ' +
    'You can still host: others join from their browsers or the lancall app, and you see who is in the call. ' +
    'Your camera preview and microphone work below.';
  note.hidden = false;
  $('join-own-call').disabled = true;
  $('join-own-call').title = 'Not possible in this window: no WebRTC';
}

// ---- choosing where to join ----------------------------------------------------------------

/** Reads a join link, QR code contents or "host:port". */
export function readJoinInput(text) {
  const t = text.trim();
  if (!t) return null;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(t)) {
    const link = parseJoinLink(t, '');
    return { address: t, room: link.room || DEFAULT_ROOM, token: link.token, fingerprint: link.fingerprint };
  }
  return { address: t, room: DEFAULT_ROOM, token: null, fingerprint: null };
}

async function chooseHost({ address, alternatives = [], fingerprint, room, token, name = null, words = null, confirmed = false }, entry = null) {
  if (H.busy) return;
  clearProblem();
  if (room && !ROOM_RE.test(room)) return showProblem({ code: 'bad-address', message: 'The link has a room name that cannot be right. Ask for the link again.' });
  if (token && !TOKEN_RE.test(token)) return showProblem({ code: 'bad-address', message: 'The link has a token that cannot be right. Ask for the link again.' });
  H.busy = true;
  entry?.classList.add('checking');
  try {
    const target = await invoke('prepare_join', { address, fingerprint: fingerprint ?? null, alternatives, confirmed });
    H.chosen = target.host;
    for (const li of document.querySelectorAll('#hosts [data-testid="host-entry"]')) {
      li.classList.toggle('chosen', li.dataset.addresses.split(' ').includes(target.host));
    }
    setJoinTarget({ host: target.host, room, token, name, words });
  } catch (err) {
    // A device claiming a known host's name with another certificate: only on an explicit yes.
    const anyway = () => {
      clearProblem();
      chooseHost({ address, alternatives, fingerprint, room, token, name, words, confirmed: true }, entry);
    };
    showProblem(err, err?.code === 'not-the-same-host' ? [['Join it anyway', anyway, 'join-anyway']] : []);
  } finally {
    H.busy = false;
    entry?.classList.remove('checking');
  }
}

function onJoinAddress(ev) {
  ev.preventDefault();
  const parsed = readJoinInput($('join-address').value);
  if (!parsed) {
    showProblem({ code: 'bad-address', message: 'Paste the join link, the text of its QR code, or the host address.' });
    return;
  }
  chooseHost(parsed);
}

// ---- hosts on the network ------------------------------------------------------------------

function renderFinder(status) {
  const text = {
    off: 'Looking for calls on this network is switched off. Join by link or address below.',
    starting: 'Looking for calls on this network…',
    on: '',
  }[status?.state];
  $('finder-status').textContent = text ?? status?.message ?? '';
  // Discovery switched off (LANCALL_NO_MDNS) sends nothing, the search included.
  $('scan-network').hidden = status?.state === 'off';
  renderHosts(H.hosts);
}

function renderHosts(hosts) {
  H.hosts = hosts ?? [];
  const list = $('hosts');
  list.replaceChildren(
    ...H.hosts.map((h) => {
      const button = el(
        'button',
        { type: 'button', class: 'host', disabled: !h.joinable },
        el('span', { class: 'host-name', text: h.name }),
        el('span', { class: 'host-detail', text: h.joinable ? `${h.address}${h.open_rooms ? ' · open to this network' : ' · needs the link'}${h.found_by === 'scan' ? ' · found by searching' : ''}` : h.problem }),
        h.words ? el('span', { class: 'host-words', 'data-testid': 'host-words', text: h.words }) : null,
        h.trust === 'not-the-same'
          ? el('span', { class: 'host-warning', 'data-testid': 'host-warning', text: `Not the ${h.name} you joined before: its certificate is different.` })
          : null,
      );
      const li = el('li', {
        'data-testid': 'host-entry',
        'data-fingerprint': h.fingerprint ?? '',
        'data-address': h.address,
        'data-addresses': h.addresses.join(' '),
        'data-instance': h.instance,
        'data-found-by': h.found_by ?? '',
        'data-trust': h.trust ?? '',
        class: h.addresses.includes(H.chosen) ? 'chosen' : '',
      }, button);
      if (h.trust === 'known') {
        // Joined before: marked, and can be forgotten (then it is new again).
        li.append(
          el('span', { class: 'host-known', text: '✓ Joined before' }),
          el('button', { type: 'button', class: 'link host-forget', 'data-testid': 'forget-host', text: 'Forget', onclick: () => invoke('forget_host', { fingerprint: h.fingerprint }).catch(showProblem) }),
        );
      }
      const alternatives = h.addresses.filter((a) => a !== h.address);
      button.addEventListener('click', () => chooseHost({ address: h.address, alternatives, fingerprint: h.fingerprint, room: DEFAULT_ROOM, token: null, name: h.name, words: h.words }, li));
      return li;
    }),
  );
  if (!H.hosts.length) {
    const searching = !$('finder-status').textContent;
    list.append(el('li', { class: 'empty', text: searching ? 'No calls found yet. Make sure the host is on the same Wi-Fi.' : 'No calls listed.' }));
  }
  // An empty list opens the troubleshooting notes; a found host closes them.
  $('troubleshoot').open = !H.hosts.length && H.searched;
}

/** "Search this network": every address of this device's subnets asked (the Rust side's scan). */
async function searchNetwork() {
  const button = /** @type {HTMLButtonElement} */ ($('scan-network'));
  button.disabled = true;
  $('scan-status').textContent = 'Searching this network…';
  try {
    const r = await invoke('scan_network');
    H.searched = true;
    $('scan-status').textContent = r.found
      ? `Found ${r.found === 1 ? 'a call' : `${r.found} calls`} by asking ${r.probed} addresses.`
      : `Asked ${r.probed} addresses on port ${r.port}: no call answered.`;
  } catch (err) {
    $('scan-status').textContent = err?.message ?? String(err);
  } finally {
    button.disabled = false;
    renderHosts(H.hosts);
  }
}

// ---- hosting -------------------------------------------------------------------------------

function renderParticipants(list) {
  const people = list ?? [];
  $('participant-total').textContent = String(people.length);
  const ul = $('participants');
  ul.replaceChildren(...people.map((p) => el('li', { 'data-testid': 'participant', 'data-peer-id': p.id, text: p.name })));
  if (!people.length) ul.append(el('li', { class: 'empty', text: 'Nobody yet. Share the link or let them scan the QR code.' }));
}

/**
 * People without the link's token asking to be let in; the host admits or refuses each: on the
 * home screen, and, while the host is in its own call (the home screen is hidden then), as a
 * prompt over the call, as Meet's admit prompt (a guest used to wait for ever).
 */
function renderKnocks(knocks) {
  const answer = (id, admit) =>
    invoke('answer_knock', { id, admit }).catch((err) => {
      if (err?.code !== 'knock-gone') showProblem(err);
    });
  const item = (k, label) => {
    const admit = el('button', { type: 'button', class: 'secondary', 'data-testid': 'admit-knock', text: 'Let in' });
    const refuse = el('button', { type: 'button', class: 'secondary', 'data-testid': 'refuse-knock', text: 'Refuse' });
    admit.addEventListener('click', () => answer(k.id, true));
    refuse.addEventListener('click', () => answer(k.id, false));
    return el('li', { class: 'knock', 'data-testid': 'knock', 'data-knock-id': k.id }, el('span', { text: label }), el('span', { class: 'knock-actions' }, admit, refuse));
  };
  const list = knocks ?? [];
  const ul = $('knocks');
  ul.replaceChildren(...list.map((k) => item(k, `${k.name}${k.addr ? ` (${k.addr})` : ''}`)));
  if (!list.length) ul.append(el('li', { class: 'empty', text: 'Nobody is waiting. Guests with the link or QR code come straight in.' }));
  const inCallList = $('call-knocks');
  inCallList.replaceChildren(...list.map((k) => item(k, `${k.name} is asking to join`)));
  inCallList.hidden = !list.length;
  renderPanelKnocks(list, answer);
}

/** The choice of how the call's media travels, before hosting: one radio per way this device can host. */
function renderTopologyChoice(choices, saved) {
  const box = $('host-topology');
  const offered = (choices ?? []).filter((c) => TOPOLOGY_CHOICES[c]);
  box.replaceChildren(box.querySelector('legend'));
  // One way only (Android: directly between devices): nothing to choose.
  box.hidden = offered.length < 2;
  if (box.hidden) return;
  const pick = offered.includes(saved) ? saved : offered.includes('mesh') ? 'mesh' : offered[0];
  for (const value of offered) {
    const [title, detail] = TOPOLOGY_CHOICES[value];
    box.append(
      el(
        'label',
        { class: 'topology-option' },
        el('input', { type: 'radio', name: 'host-topology', value, checked: value === pick, 'data-testid': `topology-${value}` }),
        el('span', { class: 'topology-text' }, el('span', { class: 'topology-title', text: title }), el('span', { class: 'topology-detail', text: detail })),
      ),
    );
  }
}

/** The chosen topology, or null when there is no choice (the Rust side uses the saved one). */
function chosenTopology() {
  const box = $('host-topology');
  if (box.hidden) return null;
  return /** @type {HTMLInputElement|null} */ (box.querySelector('input[name="host-topology"]:checked'))?.value ?? null;
}

function describeMedia(topology, media) {
  if (topology === 'sfu') return 'Video goes through this computer: each device sends it once, this computer passes it on.';
  if (topology === 'auto') {
    return media === 'sfu'
      ? 'Automatic: three or more people, so video goes through this computer now.'
      : 'Automatic: video goes directly between two people, through this computer from three.';
  }
  return 'Video goes directly between devices.';
}

/** A file's size in MB, as people read it ("< 0.1 MB" for a nearly empty one). */
const megabytes = (bytes) => (bytes < 5e4 ? '< 0.1 MB' : `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`);

/** The host's recording: the button, who records, why it cannot, the last problem, the files. */
function renderRecording(rec, media) {
  if (!rec || !H.hosting) return;
  H.hosting.recording = rec;
  if (media) H.hosting.media = media;
  $('hosting-media').textContent = describeMedia(H.hosting.topology, H.hosting.media);
  const button = /** @type {HTMLButtonElement} */ ($('host-record'));
  if (!H.recordBusy) {
    button.textContent = rec.active ? 'Stop recording' : 'Record the call';
    button.disabled = !rec.active && !!rec.unavailable;
  }
  button.classList.toggle('recording', rec.active);
  button.setAttribute('aria-pressed', String(rec.active));
  button.title = !rec.active && rec.unavailable ? rec.unavailable : '';
  button.dataset.state = rec.active ? 'recording' : rec.unavailable ? 'unavailable' : 'ready';
  $('host-record-state').textContent = rec.active ? (rec.by ? `● Recording, started by ${rec.by}` : '● Recording') : '';
  // While recording, nothing to explain; otherwise what the button does, or why it cannot.
  $('host-record-hint').textContent = rec.active
    ? 'Everyone in the call sees that it is recorded. One file per person is saved on this computer.'
    : rec.unavailable ?? 'Records everyone in the call on this computer, one file per person. Everyone sees that it is recorded.';
  const problem = H.recordProblem ?? rec.error;
  const box = $('host-record-problem');
  box.textContent = problem ?? '';
  box.hidden = !problem;
  const files = rec.files ?? [];
  $('recordings-total').textContent = String(rec.total ?? files.length);
  $('recordings').replaceChildren(
    ...files.map((f) =>
      el(
        'li',
        { class: 'recording-file', 'data-testid': 'recording-file', 'data-name': f.name, 'data-bytes': String(f.bytes), title: f.path },
        el('span', { class: 'recording-name', text: f.name }),
        el('span', { class: 'recording-size', text: megabytes(f.bytes) }),
      ),
    ),
  );
  if (!files.length) $('recordings').append(el('li', { class: 'empty', text: 'No recordings yet.' }));
  const more = (rec.total ?? 0) > files.length ? ` The ${files.length} newest are listed.` : '';
  $('recordings-folder').textContent = rec.folder ? `Saved in ${rec.folder}.${more}` : '';
}

async function toggleRecording() {
  if (!H.hosting || H.recordBusy) return;
  const start = !H.hosting.recording?.active;
  const button = /** @type {HTMLButtonElement} */ ($('host-record'));
  H.recordBusy = true;
  H.recordProblem = null;
  button.disabled = true;
  button.textContent = start ? 'Starting…' : 'Stopping…';
  let view = null;
  try {
    view = await invoke('host_record', { active: start });
  } catch (err) {
    H.recordProblem = err?.message ?? String(err);
  } finally {
    H.recordBusy = false;
    button.disabled = false;
  }
  if (view && H.hosting) renderRecording(view.recording, view.media);
  else renderRecording(H.hosting?.recording, null);
}

/** Puts `text` on the clipboard; `button` says whether it worked. */
function copyText(button, text) {
  navigator.clipboard?.writeText(text).then(
    () => (button.textContent = 'Copied'),
    () => (button.textContent = 'Select the link to copy it'),
  );
}

/** The host's rooms besides the main one: each with who is in it, its link, and Remove. */
function renderRooms(rooms) {
  const list = rooms ?? [];
  $('rooms-total').textContent = String(list.length);
  $('rooms').replaceChildren(
    ...list.map((r) => {
      const link = el('code', { class: 'join-link room-link', 'data-testid': 'room-link', text: r.join_url });
      const copy = el('button', { type: 'button', class: 'secondary small', 'data-testid': 'copy-room-link', text: 'Copy link' });
      copy.addEventListener('click', () => copyText(copy, r.join_url));
      const remove = el('button', { type: 'button', class: 'danger-button small', 'data-testid': 'remove-room', text: 'Remove' });
      remove.addEventListener('click', () => removeRoom(r.name, remove));
      const people = r.people === 1 ? '1 person' : `${r.people} people`;
      const media = r.media === 'sfu' ? 'through this computer' : 'directly between devices';
      return el(
        'li',
        { class: 'room', 'data-testid': 'room', 'data-name': r.name, 'data-people': String(r.people) },
        el('span', { class: 'room-title' }, el('b', { text: r.name }), ` · ${people} · ${media}`),
        link,
        el('span', { class: 'row' }, copy, remove),
      );
    }),
  );
  if (!list.length) $('rooms').append(el('li', { class: 'empty', text: 'Only the main room.' }));
}

function showRoomsProblem(text) {
  const box = $('rooms-problem');
  box.textContent = text ?? '';
  box.hidden = !text;
}

/** The ways of carrying media the new room may use (as for hosting), when there is a choice. */
function renderRoomTopologies(choices, saved) {
  const select = /** @type {HTMLSelectElement} */ ($('room-topology'));
  const offered = (choices ?? []).filter((c) => TOPOLOGY_CHOICES[c]);
  select.replaceChildren(...offered.map((value) => el('option', { value, text: TOPOLOGY_CHOICES[value][0], selected: value === saved })));
  select.hidden = offered.length < 2;
}

async function addRoom(ev) {
  ev.preventDefault();
  const input = /** @type {HTMLInputElement} */ ($('room-name'));
  const name = input.value.trim();
  if (!name) return;
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) {
    showRoomsProblem('A room name is 1 to 64 letters, digits, dots, dashes or underscores, with no spaces (it goes in the link).');
    input.focus();
    return;
  }
  const select = /** @type {HTMLSelectElement} */ ($('room-topology'));
  const button = /** @type {HTMLButtonElement} */ ($('add-room'));
  button.disabled = true;
  showRoomsProblem(null);
  try {
    const view = await invoke('host_add_room', select.hidden ? { name } : { name, topology: select.value });
    input.value = '';
    if (H.hosting) H.hosting.rooms = view.rooms;
    renderRooms(view.rooms);
  } catch (err) {
    showRoomsProblem(err?.message ?? String(err));
  } finally {
    button.disabled = false;
  }
}

async function removeRoom(name, button) {
  button.disabled = true;
  showRoomsProblem(null);
  try {
    const view = await invoke('host_remove_room', { name });
    renderRooms(view.rooms);
  } catch (err) {
    showRoomsProblem(err?.message ?? String(err));
    button.disabled = false;
  }
}

function renderPresence(presence) {
  renderParticipants(presence?.participants);
  renderKnocks(presence?.knocks);
  renderRecording(presence?.recording, presence?.media);
  renderRooms(presence?.rooms);
}

function renderHosting(view) {
  H.hosting = view ?? null;
  const on = !!view;
  setHostedLink(on ? { host: view.address, url: view.join_url } : null);
  $('hosting').hidden = !on;
  $('host-call').hidden = on;
  $('host-intro').hidden = on;
  $('host-topology').classList.toggle('hosting-on', on);
  H.recordProblem = null;
  showRoomsProblem(null);
  if (!on) return;
  $('hosting-name').textContent = view.name;
  $('join-link').textContent = view.join_url;
  drawQr($('join-qr'), view.qr);
  const detail = [];
  if (view.join_urls.length > 1) detail.push(`Also reachable at ${view.join_urls.slice(1).map((u) => new URL(u).host).join(', ')}.`);
  $('hosting-words').textContent = view.words ?? '';
  $('hosting-words-line').hidden = !view.words;
  if (view.fingerprint) detail.push(`Certificate fingerprint ${view.fingerprint.slice(0, 16)}…`);
  if (view.trust_urls[0]) detail.push(`Browsers can trust this host at ${view.trust_urls[0]}`);
  if (!view.advertised) detail.push(view.advertise_problem ? `Not announced on the network: ${view.advertise_problem}.` : 'Not announced on the network (mDNS is off): share the link.');
  $('hosting-detail').textContent = detail.join(' ');
  renderPresence(view);
  if (!H.chosen) setJoinTarget({ host: view.address, room: view.room, token: view.token, name: view.name }, { scroll: false });
}

async function saveName() {
  const name = typedName();
  if (!name) return;
  try {
    await invoke('save_settings', { update: { display_name: name } });
  } catch (err) {
    console.warn('lancall: could not save the name', err);
  }
}

async function startHosting() {
  if (H.busy) return;
  clearProblem();
  H.busy = true;
  $('host-call').disabled = true;
  $('host-call').textContent = 'Starting…';
  try {
    await saveName();
    const topology = chosenTopology();
    const view = await invoke('start_hosting', topology ? { topology } : {});
    if (topology && H.info) H.info.settings.host_topology = topology;
    H.chosen = null;
    renderHosting(view);
    // The host is in its own call at once, under the name it has (saved, or typed); without a
    // name the card asks for one, and Join then enters the call.
    if (typedName()) joinOwnCall();
    else {
      showPrejoinProblem('Type your name, then Join.', 'You are hosting: Join puts you in your own call.', [], 'warn');
      $('name').focus();
    }
  } catch (err) {
    showProblem(err);
  } finally {
    H.busy = false;
    $('host-call').disabled = false;
    $('host-call').textContent = 'Host a call';
  }
}

async function stopHosting() {
  leaveCall();
  try {
    await invoke('stop_hosting');
  } catch (err) {
    showProblem(err);
  }
  renderHosting(null);
}

function joinOwnCall() {
  if (!H.hosting) return;
  H.chosen = null;
  joinCall({ host: H.hosting.address, room: H.hosting.room, token: H.hosting.token });
}

// ---- following the call UI -----------------------------------------------------------------

/** The home screen steps aside while a call is on screen. */
function followCallScreen() {
  onScreenChange((screen) => {
    $('home').hidden = screen !== 'prejoin';
    if (screen === 'ended') {
      // After Leave: the way home, and, while this device still hosts, a reminder that the call
      // goes on for the others.
      $('back-home').hidden = false;
      $('ended-detail').textContent = H.hosting
        ? `You are still hosting "${H.hosting.name}": the others can go on talking and more can join. End it for everyone from the home screen.`
        : 'Your camera and microphone are off.';
      $('ended-title').textContent = H.hosting ? 'You left your call' : 'You left the call';
    }
  });
}

/** The name and devices the person picks are kept in the app's settings. */
function persistPreferences() {
  const save = (update) => invoke('save_settings', { update }).catch((err) => console.warn('lancall: settings not saved', err));
  onPreferenceChange(({ name, cameraId, micId, speakerId }) => {
    if (name !== undefined) save({ display_name: name });
    if (cameraId !== undefined) save({ camera_id: cameraId });
    if (micId !== undefined) save({ mic_id: micId });
    if (speakerId !== undefined) save({ speaker_id: speakerId });
  });
}

// ---- start ---------------------------------------------------------------------------------

async function init() {
  build();
  showWebviewNote();
  $('host-call').addEventListener('click', startHosting);
  $('stop-hosting').addEventListener('click', stopHosting);
  $('host-record').addEventListener('click', toggleRecording);
  $('join-own-call').addEventListener('click', joinOwnCall);
  $('copy-link').addEventListener('click', () => copyText($('copy-link'), $('join-link').textContent));
  $('join-address-form').addEventListener('submit', onJoinAddress);
  $('add-room-form').addEventListener('submit', addRoom);
  $('scan-network').addEventListener('click', searchNetwork);
  $('back-home').addEventListener('click', async () => {
    await backToPrejoin();
    $('home').scrollIntoView({ block: 'start' });
  });
  followCallScreen();
  persistPreferences();

  await Promise.all([
    listen('lancall:hosts', renderHosts),
    listen('lancall:finder', renderFinder),
    listen('lancall:presence', renderPresence),
    listen('lancall:hosting', renderHosting),
  ]);
  const info = await invoke('app_info');
  H.info = info;
  $('app-version').textContent = `lancall ${info.version}`;
  // No way to capture a screen here (Linux without the desktop portal): no button that can only fail.
  if (info.screen_share === false) removeShareButton();
  // Nor one to record where every recording would come out empty (WebKitGTK without GStreamer's fmp4).
  if (info.recording === false) removeRecordButton();
  if (info.settings.display_name) offerName(info.settings.display_name);
  adoptSavedDevices(info.settings);
  renderTopologyChoice(info.host_topologies, info.settings.host_topology);
  renderRoomTopologies(info.host_topologies, info.settings.host_topology);
  renderFinder(info.finder);
  renderHosts(info.hosts);
  renderHosting(info.hosting);
  document.documentElement.dataset.homeReady = 'true';
}

if (inApp()) {
  init().catch((err) => {
    console.error('lancall: the home screen could not start', err);
    document.documentElement.dataset.homeReady = 'error';
  });
}
