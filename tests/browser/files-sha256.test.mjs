// The incremental SHA-256 that hashes files sent in the call (ui/js/lib/files-sha256.js), on
// its own: the FIPS 180-4 and NIST vectors, and any split of the input giving the same digest
// as node's crypto. Runs with the browser tests or alone:
//   node --test tests/browser/files-sha256.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Sha256 } from '../../ui/js/lib/files-sha256.js';

const hex = (/** @type {Uint8Array} */ b) => new Sha256().update(b).hex();
const text = (/** @type {string} */ s) => new TextEncoder().encode(s);

test('the FIPS 180-4 and NIST vectors give their known digests', () => {
  assert.equal(hex(text('')), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(hex(text('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(hex(text('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq')), '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
  assert.equal(
    hex(text('abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu')),
    'cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1',
  );
  const million = new Uint8Array(1_000_000).fill(0x61);
  assert.equal(hex(million), 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0');
});

test('any split of the input gives the digest of the whole', () => {
  for (const size of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 65_536 + 7]) {
    const data = new Uint8Array(randomBytes(size));
    const want = createHash('sha256').update(data).digest('hex');
    for (const step of [1, 3, 63, 64, 65, 1000]) {
      const h = new Sha256();
      for (let i = 0; i < size; i += step) h.update(data.subarray(i, i + step));
      assert.equal(h.hex(), want, `${size} bytes in steps of ${step}`);
    }
  }
});

test('a finished hash keeps its digest and takes no more input', () => {
  const h = new Sha256().update(text('abc'));
  const d = h.hex();
  assert.equal(h.hex(), d);
  assert.throws(() => h.update(text('x')));
});
