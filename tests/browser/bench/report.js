// Small helpers shared by the benchmarks: percentiles, the machine's description, CPU time and
// memory of processes read from /proc, and reports that several benchmarks write parts of.
import { readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';

/** The p-th percentile (nearest rank) of `xs`. */
export function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** "Intel(R) Xeon(R) Processor, 2 cores, 23 GiB" */
export function machine() {
  const cpuModel = (readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.+)/) ?? [])[1] ?? os.arch();
  return `${cpuModel}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB`;
}

export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

/** Fields of /proc/PID/stat after the command name (field 3 is index 0), or null when gone. */
function statFields(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** `pid` and every process below it. */
export function descendants(pid) {
  const children = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const f = statFields(d);
    if (!f) continue;
    const ppid = Number(f[1]);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(d));
  }
  const out = [pid];
  for (let i = 0; i < out.length; i += 1) out.push(...(children.get(out[i]) ?? []));
  return out;
}

/** CPU-seconds (utime + stime) the processes have used so far. */
export function cpuSeconds(pids) {
  let ticks = 0;
  for (const p of [pids].flat()) {
    const f = statFields(p);
    if (f) ticks += Number(f[11]) + Number(f[12]);
  }
  return ticks / CLK_TCK;
}

/** Resident memory (VmRSS) of one process, MiB. */
export function rssMiB(pid) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)/m);
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Summed PSS of processes, MiB (shared pages split between the processes sharing them). */
export function pssMiB(pids) {
  let kb = 0;
  for (const p of pids) {
    try {
      const m = readFileSync(`/proc/${p}/smaps_rollup`, 'utf8').match(/^Pss:\s+(\d+)/m);
      if (m) kb += Number(m[1]);
    } catch {
      /* gone */
    }
  }
  return kb / 1024;
}

/** What else the machine is doing: load average and the busiest processes over half a second. */
export function machineState() {
  const [l1, l5] = os.loadavg();
  let busy = '';
  try {
    const top = execFileSync('top', ['-b', '-n', '2', '-d', '0.5', '-o', '%CPU', '-w', '200']).toString().split('\n');
    const second = top.lastIndexOf(top.find((l) => l.startsWith('top -')) ?? '');
    const start = top.findIndex((l, i) => i > second && /^\s*PID\s/.test(l)) + 1;
    busy = top
      .slice(start, start + 5)
      .map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length >= 12 && Number(f[8]) >= 5)
      .map((f) => `${f[11]} ${Math.round(Number(f[8]))} %`)
      .join(', ');
  } catch {
    /* no top */
  }
  return `load average ${l1.toFixed(2)} (1 min), ${l5.toFixed(2)} (5 min); busiest processes then: ${busy || 'none above 5 %'} (100 % = one core)`;
}

const start = (key) => `<!-- section ${key}: written by a benchmark, replaced when it runs again -->`;
const end = (key) => `<!-- end of section ${key} -->`;

/** The sections (marked as `setSection` writes them) of a report file, as text, or ''. */
export function keptSections(file) {
  if (!existsSync(file)) return '';
  const text = readFileSync(file, 'utf8');
  const out = [];
  const re = /<!-- section (\S+): written by a benchmark[^>]*-->[\s\S]*?<!-- end of section \1 -->/g;
  for (const m of text.matchAll(re)) out.push(m[0]);
  return out.join('\n\n');
}

/**
 * Put `body` into `file` as section `key`: replace the section if the file has it, else append it
 * (a new file starts with `title`). The rest of the file stays as it is.
 */
export function setSection(file, key, body, title = '') {
  const block = `${start(key)}\n${body.trim()}\n${end(key)}`;
  let text = existsSync(file) ? readFileSync(file, 'utf8') : `${title}\n`;
  const re = new RegExp(`<!-- section ${key}: written by a benchmark[^>]*-->[\\s\\S]*?<!-- end of section ${key} -->`);
  if (re.test(text)) text = text.replace(re, () => block);
  else text = `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, text);
}

/** The code measured: the commit, and the product directories with uncommitted changes. */
export function codeState(repoRoot) {
  try {
    const head = execFileSync('git', ['-C', repoRoot, 'rev-parse', '--short', 'HEAD']).toString().trim();
    const dirty = new Set(
      execFileSync('git', ['-C', repoRoot, 'status', '--porcelain', '--untracked-files=no', '--', 'hub', 'sfu', 'ui', 'peer', 'protocol'])
        .toString()
        .split('\n')
        .filter(Boolean)
        .map((l) => `${l.slice(3).split('/')[0]}/`),
    );
    return dirty.size ? `commit ${head} with uncommitted changes in ${[...dirty].join(', ')}` : `commit ${head}`;
  } catch {
    return 'an unknown commit';
  }
}
