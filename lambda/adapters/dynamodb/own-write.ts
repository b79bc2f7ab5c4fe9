import { ConditionalCheckFailedException, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { InitializeMiddleware, MetadataBearer } from '@smithy/types';

type Item = Record<string, AttributeValue>;

/**
 * Lets a conditional `PutItem` recognise its own write. When an attempt reaches DynamoDB and the
 * answer is lost (a connection cut after the request, a timeout), the SDK retries, and the retry's
 * condition (`attribute_not_exists`, `version = :expected`) fails against the item the first attempt
 * wrote. Without this, the caller would take its own write for a concurrent one: an upload session
 * just created would be "taken", a chunk just saved would be undone while the session keeps it.
 *
 * So every conditional PutItem asks for the item that failed the condition (no extra cost), and
 * when the call took more than one attempt and that item is exactly the one being put, the put
 * succeeded: it resolves as such. A first attempt's failure is always a real conflict. DeleteItem
 * and UpdateItem are left alone: their callers treat a lost condition as "someone else acted",
 * which after a retry leaves at most unreferenced objects that garbage collection removes, and
 * TransactWriteItems needs nothing, as the SDK gives each call an idempotency token its retries reuse.
 */
export function recogniseOwnConditionalPuts(client: DynamoDBClient): void {
  const middleware: InitializeMiddleware<object, MetadataBearer> = (next, context) => async (args) => {
    const input = args.input as { Item?: Item; ConditionExpression?: string };
    if (context.commandName !== 'PutItemCommand' || !input.ConditionExpression || !input.Item) return next(args);
    const item = input.Item;
    try {
      return await next({ ...args, input: { ...input, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } });
    } catch (err) {
      if (
        err instanceof ConditionalCheckFailedException &&
        (err.$metadata.attempts ?? 1) > 1 &&
        err.Item !== undefined &&
        sameItem(err.Item, item)
      ) {
        return { response: undefined, output: { $metadata: err.$metadata } };
      }
      throw err;
    }
  };
  client.middlewareStack.add(middleware, { step: 'initialize', name: 'registryOwnConditionalPut' });
}

/** Whether two items hold the same attributes and values (numbers compared as numbers, sets unordered). */
export function sameItem(a: Item, b: Item): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => b[k] !== undefined && sameValue(a[k], b[k]));
}

function sameValue(a: AttributeValue | undefined, b: AttributeValue | undefined): boolean {
  if (!a || !b) return a === b;
  if (a.S !== undefined) return a.S === b.S;
  if (a.N !== undefined) return b.N !== undefined && Number(a.N) === Number(b.N);
  if (a.B !== undefined) return b.B !== undefined && Buffer.from(a.B).equals(Buffer.from(b.B));
  if (a.BOOL !== undefined) return a.BOOL === b.BOOL;
  if (a.NULL !== undefined) return a.NULL === b.NULL;
  if (a.M !== undefined) return b.M !== undefined && sameItem(a.M, b.M);
  if (a.L !== undefined)
    return b.L !== undefined && a.L.length === b.L.length && a.L.every((v, i) => sameValue(v, b.L?.[i]));
  if (a.SS !== undefined) return sameSet(a.SS, b.SS);
  if (a.NS !== undefined) return sameSet(a.NS?.map(Number).map(String), b.NS?.map(Number).map(String));
  if (a.BS !== undefined) {
    return sameSet(
      a.BS.map((v) => Buffer.from(v).toString('base64')),
      b.BS?.map((v) => Buffer.from(v).toString('base64')),
    );
  }
  return false;
}

function sameSet(a: string[] | undefined, b: string[] | undefined): boolean {
  if (!a || !b || a.length !== b.length) return false;
  const sorted = [...b].sort();
  return [...a].sort().every((v, i) => v === sorted[i]);
}
