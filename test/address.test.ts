// Sender addresses as text: the word form the batch uses for IPv4 (a record's address word,
// its four network-order bytes read little-endian) says what the byte form says, for every
// byte value. The word is composed here from the bytes, so the check runs on any machine.
import t from 'tap';

import { formatIPv4, formatIPv4Word } from '../src/address';

t.test('formatIPv4Word agrees with formatIPv4', async (t) => {
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
    const bytes = Uint8Array.from(c);
    const word = (c[0]! | (c[1]! << 8) | (c[2]! << 16) | (c[3]! << 24)) >>> 0;
    const text = c.join('.');
    if (formatIPv4Word(word) === text && formatIPv4(bytes, 0) === text) same++;
    else t.fail(`${text}: word form ${formatIPv4Word(word)}, byte form ${formatIPv4(bytes, 0)}`);
  }
  t.equal(same, cases.length, 'every address the same both ways');
});
