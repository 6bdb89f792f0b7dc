import type { AssembledStack } from './cloud-assembly.ts';

/** What a logical id stands for locally: its `Ref` and its `Fn::GetAtt` attributes. */
export type LocalValue = { ref: string; attributes: Record<string, string> };

export type ResolveContext = {
  region: string;
  account: string;
  stacks: AssembledStack[];
  /** The local value of a logical id of `stack`, or undefined for one the local stack has no counterpart of. */
  valueOf: (stack: AssembledStack, logicalId: string) => LocalValue | undefined;
};

const PSEUDO: Record<string, (ctx: ResolveContext, stack: AssembledStack) => string> = {
  'AWS::Partition': () => 'aws',
  'AWS::Region': (ctx) => ctx.region,
  'AWS::AccountId': (ctx) => ctx.account,
  'AWS::URLSuffix': () => 'amazonaws.com',
  'AWS::StackName': (_ctx, stack) => stack.name,
};

/**
 * Evaluates the CloudFormation intrinsic functions of a template value (an environment
 * variable, a policy document) against the local stack's resources, as CloudFormation would
 * against the deployed ones. A reference the local stack cannot answer throws, naming it: a
 * new kind of resource in a policy must be modelled here, never silently dropped.
 */
export const resolveCfn = (value: unknown, stack: AssembledStack, ctx: ResolveContext): unknown => {
  if (Array.isArray(value)) return value.map((item) => resolveCfn(item, stack, ctx));
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  const [key, arg] = entries[0] ?? [];
  if (entries.length !== 1 || !key || !(key === 'Ref' || key.startsWith('Fn::'))) {
    return Object.fromEntries(entries.map(([k, v]) => [k, resolveCfn(v, stack, ctx)]));
  }
  const str = (v: unknown) => String(resolveCfn(v, stack, ctx));
  const local = (logicalId: string) => {
    const found = ctx.valueOf(stack, logicalId);
    if (!found) throw new Error(`${stack.name}: the local stack has no counterpart of ${logicalId}`);
    return found;
  };
  switch (key) {
    case 'Ref': {
      const name = arg as string;
      return PSEUDO[name] ? PSEUDO[name](ctx, stack) : local(name).ref;
    }
    case 'Fn::GetAtt': {
      const [logicalId, attribute] = (typeof arg === 'string' ? arg.split('.') : arg) as [string, string];
      const found = local(logicalId).attributes[attribute];
      if (found === undefined) throw new Error(`${stack.name}: the local stack has no ${attribute} of ${logicalId}`);
      return found;
    }
    case 'Fn::Join': {
      const [separator, parts] = arg as [string, unknown[]];
      return parts.map(str).join(separator);
    }
    case 'Fn::Select': {
      const [index, list] = arg as [unknown, unknown];
      return (resolveCfn(list, stack, ctx) as unknown[])[Number(resolveCfn(index, stack, ctx))];
    }
    case 'Fn::Split': {
      const [separator, text] = arg as [string, unknown];
      return str(text).split(separator);
    }
    case 'Fn::Sub': {
      const [text, variables = {}] = (typeof arg === 'string' ? [arg] : arg) as [string, Record<string, unknown>?];
      return text.replace(/\$\{([^}!]+)\}/g, (_m, name: string) => {
        if (name in variables) return str(variables[name]);
        const [id, attribute] = name.split('.');
        return str(attribute ? { 'Fn::GetAtt': [id, attribute] } : { Ref: id });
      });
    }
    case 'Fn::GetStackOutput':
    case 'Fn::ImportValue': {
      const { other, output } = findOutput(key, arg, stack, ctx);
      return resolveCfn(output, other, ctx);
    }
    default:
      throw new Error(`${stack.name}: the local stack does not evaluate ${key}`);
  }
};

const findOutput = (key: string, arg: unknown, stack: AssembledStack, ctx: ResolveContext) => {
  if (key === 'Fn::GetStackOutput') {
    const { StackName, OutputName } = arg as { StackName: string; OutputName: string };
    const other = ctx.stacks.find((s) => s.name === StackName);
    const output = other?.template.Outputs?.[OutputName]?.Value;
    if (!other || output === undefined) throw new Error(`${stack.name}: no output ${OutputName} of stack ${StackName}`);
    return { other, output };
  }
  const name = String(resolveCfn(arg, stack, ctx));
  for (const other of ctx.stacks) {
    for (const output of Object.values(other.template.Outputs ?? {})) {
      if (output.Export && resolveCfn(output.Export.Name, other, ctx) === name) return { other, output: output.Value };
    }
  }
  throw new Error(`${stack.name}: no stack exports ${name}`);
};
