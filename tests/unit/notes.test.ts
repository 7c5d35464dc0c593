import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveNoteAsset, resolveNoteAssets } from '../../align/index.js';

const aliases = {
  p1: {
    'pump-07': 'pump-07',
    'pump 7': 'pump-07',
    p7: 'pump-07',
    'pump 7 inlet valve': 'valve-7i',
    'cooling fan': 'fan-2',
  },
};

test('a note names its asset by any alias, case-insensitively, as a whole word', () => {
  assert.equal(resolveNoteAsset('p1', 'Pump 7 sounds rough since noon', aliases), 'pump-07');
  assert.equal(resolveNoteAsset('p1', 'checked PUMP-07, fine', aliases), 'pump-07');
  assert.equal(resolveNoteAsset('p1', 'drips under p7.', aliases), 'pump-07');
  assert.equal(resolveNoteAsset('p1', 'the cooling fan rattles', aliases), 'fan-2');
});

test('the longest alias wins; a partial word or another plant does not match', () => {
  assert.equal(resolveNoteAsset('p1', 'pump 7 inlet valve sticks', aliases), 'valve-7i');
  assert.equal(resolveNoteAsset('p1', 'pump 70 is new', aliases), null);
  assert.equal(resolveNoteAsset('p1', 'the p77 line', aliases), null);
  assert.equal(resolveNoteAsset('p2', 'pump 7 sounds rough', aliases), null);
});

test('asset ids are recognised as operators write them, and a note naming two assets goes to both', () => {
  const known = ['pump-0007', 'pump-0008', 'P12', 'comp-0003', 'press-0012', 'fan-0006'];
  const r = (text: string) => resolveNoteAssets('p1', text, {}, known);
  assert.deepEqual(r('Pump 7 rattles'), ['pump-0007']);
  assert.deepEqual(r('PUMP-07 and pump8 both tripped at 14:02'), ['pump-0007', 'pump-0008']);
  assert.deepEqual(r('comp-0003: bearing noise (WO-99635)'), ['comp-0003']);
  // P12 is an id of its own; "P-12" and "p 12" name it exactly, not the press of the same number.
  assert.deepEqual(r('P-12 leaking'), ['P12']);
  assert.deepEqual(r('press 12 leaking'), ['press-0012']);
  // A single letter tight to the number abbreviates the one asset of that number it starts.
  assert.deepEqual(r('F6 vibrating'), ['fan-0006']);
  assert.deepEqual(r('f-06 vibrating'), ['fan-0006']);
  // Not names: a letter and a number apart, a word that only starts like an id, numbers alone, other numbers.
  assert.deepEqual(r('replaced a 7 mm bolt on the line'), []);
  assert.deepEqual(r('pressure 7 bar, pumped 8 m3'), []);
  assert.deepEqual(r('at 00:07 the 7th check'), []);
  assert.deepEqual(r('pump 70 is new'), []);
  // Aliases and ids together; a longer alias still wins over the id inside it.
  const aliases = { p1: { 'pump 7 inlet valve': 'valve-7i', 'the big fan': 'fan-0006' } };
  assert.deepEqual(resolveNoteAssets('p1', 'pump 7 inlet valve sticks; the big fan too', aliases, known), [
    'valve-7i',
    'fan-0006',
  ]);
  assert.deepEqual(resolveNoteAssets('p2', 'pump 7', {}, []), []);
});
