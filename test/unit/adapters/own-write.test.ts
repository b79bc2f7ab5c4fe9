import { sameItem } from '../../../lambda/adapters/dynamodb/own-write';

describe('recognising the item a conditional put wrote', () => {
  const item = {
    pk: { S: 'upload#1' },
    size: { N: '4096' },
    hashState: { B: new Uint8Array([1, 2, 3]) },
    direct: { BOOL: true },
    tags: { SS: ['a', 'b'] },
    nested: { M: { list: { L: [{ N: '1' }, { S: 'x' }] } } },
  };

  test('the same item as DynamoDB returns it: numbers normalised, binary as another view, sets in any order', () => {
    const returned = {
      ...item,
      size: { N: '4096.0' },
      hashState: { B: Buffer.from([1, 2, 3]) },
      tags: { SS: ['b', 'a'] },
    };
    expect(sameItem(returned, item)).toBe(true);
  });

  test.each([
    ['another value', { ...item, size: { N: '4097' } }],
    ['another type', { ...item, size: { S: '4096' } }],
    ['an attribute more', { ...item, extra: { S: 'x' } }],
    ['an attribute less', (({ direct: _d, ...rest }) => rest)(item)],
    ['other binary', { ...item, hashState: { B: new Uint8Array([1, 2, 4]) } }],
    ['another list', { ...item, nested: { M: { list: { L: [{ N: '1' }] } } } }],
  ])("%s is someone else's write", (_what, other) => {
    expect(sameItem(other, item)).toBe(false);
  });
});
