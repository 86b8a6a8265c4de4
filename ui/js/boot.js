// Runs before the page's modules (a classic script in <head>, so its listener is in place when
// they load). When one of them cannot be fetched, the page's scripts never start, and nothing
// says so: the page looks whole but its buttons do nothing. Chromium aborts every request in
// flight when the device's network changes (an address comes or goes: a phone moving between
// Wi-Fi and mobile data, a VPN, a cable), so a page loading at that moment lost a module or two
// (measured: 5 loads in 15 with an address added 0-160 ms into the load). This loads the page
// again, at most twice in a row; after that it says what happened and offers to reload. (If this
// file is what could not be fetched, index.html's notice still shows, by CSS alone, after 10 s.)
(function () {
  'use strict';
  var KEY = 'lancall.reloads';
  var failed = false;

  function reloads() {
    try {
      return Number(window.sessionStorage.getItem(KEY)) || 0;
    } catch (e) {
      return 2; // no session storage: never reload by itself (it could loop)
    }
  }

  function setReloads(n) {
    try {
      if (n) window.sessionStorage.setItem(KEY, String(n));
      else window.sessionStorage.removeItem(KEY);
    } catch (e) {
      /* nothing to keep */
    }
  }

  /** Shows the page's "did not load" notice (in index.html) at once, with a Reload button. */
  function tell() {
    var box = document.getElementById('boot-problem');
    if (!box || box.classList.contains('now')) return;
    var button = document.createElement('button');
    button.type = 'button';
    button.className = 'primary';
    button.textContent = 'Reload';
    button.setAttribute('data-testid', 'boot-reload');
    button.addEventListener('click', function () {
      setReloads(0);
      window.location.reload();
    });
    box.appendChild(button);
    box.classList.add('now');
  }

  window.addEventListener(
    'error',
    function (ev) {
      var el = ev.target;
      // A script that could not be fetched (errors thrown by running code have no element).
      if (!el || el === window || el.tagName !== 'SCRIPT' || failed) return;
      failed = true;
      var n = reloads();
      if (n < 2) {
        setReloads(n + 1);
        window.location.reload();
        return;
      }
      if (document.getElementById('boot-problem')) tell();
      else document.addEventListener('DOMContentLoaded', tell);
    },
    true,
  );

  // The page's modules have run when the load event comes: a later load starts counting afresh.
  window.addEventListener('load', function () {
    if (!failed) setReloads(0);
  });
})();
