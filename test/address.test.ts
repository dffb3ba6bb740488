// Sender addresses as text: the word form the batch uses for IPv4 (a Uint32Array word read
// little-endian from network-order bytes) says what the byte form says, for every byte value.
import t from 'tap';

import { formatIPv4, formatIPv4Word, LITTLE_ENDIAN } from '../src/address';

t.test('formatIPv4Word agrees with formatIPv4', async (t) => {
  if (!LITTLE_ENDIAN) {
    void t.skip('a big-endian machine: the batch formats IPv4 from bytes', () => {});
    return;
  }
  const bytes = new Uint8Array(4);
  const words = new Uint32Array(bytes.buffer);
  const cases: number[][] = [
    [127, 0, 0, 1],
    [0, 0, 0, 0],
    [255, 255, 255, 255],
    [10, 1, 2, 3],
    [192, 168, 0, 255],
  ];
  for (let i = 0; i < 2000; i++) cases.push([0, 1, 2, 3].map(() => Math.floor(Math.random() * 256)));
  let same = 0;
  for (const c of cases) {
    bytes.set(c);
    const text = c.join('.');
    if (formatIPv4Word(words[0]!) === text && formatIPv4(bytes, 0) === text) same++;
    else t.fail(`${text}: word form ${formatIPv4Word(words[0]!)}, byte form ${formatIPv4(bytes, 0)}`);
  }
  t.equal(same, cases.length, 'every address the same both ways');
});
