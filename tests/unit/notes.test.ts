import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveNoteAsset } from '../../align/index.js';

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
