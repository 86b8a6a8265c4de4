// A second network namespace "behind" a veth pair of its own, for a browser whose only way to
// the host (and to the other peers) can be cut, as a Wi-Fi drop would: one end of the pair stays
// in the caller's namespace, the other goes into the new one with a route back. Used by the
// browser and the app tests. Needs root (`ip netns`); the run.sh scripts delete it too if a test
// dies. Node built-ins only, so both test packages can import it.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Turns IPv6 off for `what` (an interface, `all` or `default`), run under `prefix` (e.g. `ip netns exec NS`); a kernel without IPv6 has nothing to turn off. */
function ipv6Off(prefix, what) {
  const sysctl = ['sysctl', '-qw', `net.ipv6.conf.${what}.disable_ipv6=1`];
  try {
    if (prefix.length) execFileSync('ip', [...prefix, ...sysctl], { stdio: 'ignore' });
    else execFileSync(sysctl[0], sysctl.slice(1), { stdio: 'ignore' });
  } catch {
    /* no IPv6 here */
  }
}

/**
 * @param {object} o
 * @param {string} o.name the new namespace's name
 * @param {[string, string]} o.veth the pair's ends: [the one staying here, the one going there]
 * @param {string} o.here this end's address (a /24)
 * @param {string} o.there the other end's address (a /24)
 * @param {string} o.route the network the new namespace reaches through `here`
 * @param {string} o.chromium the Chromium binary the wrapper runs in the namespace
 * @returns {{name: string, chromium: string, cut(): void, restore(): void, limit(rate: string): void, unlimit(): void, remove(): void}}
 */
export function makeRemoteNamespace({ name, veth: [near, far], here, there, route, chromium }) {
  const run = (...args) => execFileSync('ip', args, { stdio: 'inherit' });
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    /* none left over */
  }
  run('netns', 'add', name);
  // No IPv6 on either end: an interface coming up gets a link-local address that turns from
  // tentative to valid a second or two later, and Chromium takes each address change for a new
  // network, aborting every request in flight (ERR_NETWORK_CHANGED). A page loading then lost
  // its modules (twice in CI). The new namespace's interfaces take its defaults.
  ipv6Off(['netns', 'exec', name], 'default');
  ipv6Off(['netns', 'exec', name], 'all');
  run('link', 'add', near, 'type', 'veth', 'peer', 'name', far);
  ipv6Off([], near);
  run('link', 'set', far, 'netns', name);
  run('addr', 'add', `${here}/24`, 'dev', near);
  run('link', 'set', near, 'up');
  run('-n', name, 'link', 'set', 'lo', 'up');
  run('-n', name, 'addr', 'add', `${there}/24`, 'dev', far);
  run('-n', name, 'link', 'set', far, 'up');
  run('-n', name, 'route', 'add', route, 'via', here);
  const dir = mkdtempSync(path.join(tmpdir(), 'lancall-ns-'));
  const wrapper = path.join(dir, 'chromium-in-ns');
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${name} ${chromium} "$@"\n`, { mode: 0o755 });
  return {
    name,
    chromium: wrapper,
    cut: () => run('link', 'set', near, 'down'),
    restore: () => run('link', 'set', near, 'up'),
    // A slow link towards the namespace (what it receives), e.g. limit('400kbit'): a token
    // bucket (the kernel here has no netem; tbf it has), queueing at most 200 ms, then dropping.
    limit: (rate) => execFileSync('tc', ['qdisc', 'replace', 'dev', near, 'root', 'tbf', 'rate', rate, 'burst', '16kb', 'latency', '200ms'], { stdio: 'inherit' }),
    unlimit: () => execFileSync('tc', ['qdisc', 'del', 'dev', near, 'root'], { stdio: 'inherit' }),
    remove() {
      // The link first, at once: deleting the namespace alone leaves the pair to the kernel's
      // cleanup, which removes this end later (seconds, on a busy machine), a network change
      // for whichever browser is loading a page here by then.
      for (const args of [['link', 'del', near], ['netns', 'del', name]]) {
        try {
          execFileSync('ip', args, { stdio: 'ignore' });
        } catch {
          /* already gone */
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
