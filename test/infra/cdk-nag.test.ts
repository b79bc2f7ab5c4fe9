import { Validations } from 'aws-cdk-lib';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { synthRegistry, violations, type Synthesized } from './stacks';

const DOMAIN = {
  domainName: 'registry.example.com',
  certificateArn: 'arn:aws:acm:eu-west-1:111111111111:certificate/00000000-0000-0000-0000-000000000000',
};

/** Every acknowledged rule in the app, as `<rule id> @ <construct path>`. */
function acknowledgements(s: Synthesized): string[] {
  return s.app.node
    .findAll()
    .flatMap((c) =>
      c.node.metadata
        .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        // aws-cdk-lib records un-namespaced ids as `Annotation::<id>`; cdk-nag matches them without it.
        .flatMap((m) =>
          Object.keys(m.data as Record<string, string>).map(
            (id) => `${id.replace(/^annotation::/i, '')} @ ${c.node.path}`,
          ),
        ),
    )
    .sort();
}

describe('cdk-nag AwsSolutions', () => {
  const synthesized: Synthesized[] = [];
  afterAll(() => synthesized.forEach((s) => s.dispose()));
  const synth = (...args: Parameters<typeof synthRegistry>): Synthesized => {
    const s = synthRegistry(...args);
    synthesized.push(s);
    return s;
  };

  test.each([
    ['default props', {}],
    ['a custom domain', { customDomain: DOMAIN }],
  ])('reports nothing unacknowledged for a stack with %s', (_name, props) => {
    const s = synth(props, { nag: true });
    expect(violations(s.app)).toEqual([]);
  });

  test('acknowledges only the authorization rule and per-prefix object wildcards, on the constructs concerned', () => {
    const s = synth({}, { nag: true });
    const bucket = s.stack.getLogicalId(s.stack.storage.bucket.node.defaultChild as never);
    const iam5 = (prefix: string, group: string) =>
      `AwsSolutions-IAM5[Resource::<${bucket}.Arn>/${prefix}] @ Registry/Functions/${group}/Role`;
    expect([...new Set(acknowledgements(s))]).toEqual(
      [
        'AwsSolutions-APIG4 @ Registry/Api/HttpApi',
        iam5('blobs/*', 'Blobs'),
        iam5('uploads/*', 'Blobs'),
        iam5('blobs/assembled/*', 'Blobs'),
        iam5('manifests/*', 'Manifests'),
      ].sort(),
    );
  });

  test('does report what nobody acknowledged (the check itself is live)', () => {
    let thrown: unknown;
    try {
      synth({}, { nag: true, extend: (stack) => new Bucket(stack, 'Unlogged') });
    } catch (err) {
      thrown = err;
    }
    expect(String(thrown)).toMatch(/AwsSolutions-S1/);
    expect(String(thrown)).toMatch(/Registry\/Unlogged/);
  });
});
