/**
 * Structural validation: the compiled schema of ./schema.ts, and ajv's errors turned into
 * readable field-path errors (`routes[0].matchh: unknown field (did you mean "match"?)`).
 *
 * The validator is compiled once, when this module loads; `allErrors` makes ajv report every
 * violation rather than stop at the first.
 */
import { Ajv, type ErrorObject } from 'ajv';
import { GatewayConfigSchema } from './schema.js';
import { describeValue, segmentsFromPointer, type PathedError } from './field-path.js';

const ajv = new Ajv({ allErrors: true, verbose: true, strict: true });
// An annotation for editors that ajv only needs to tolerate; we read it from `parentSchema`.
ajv.addKeyword({ keyword: 'patternErrorMessage', schemaType: 'string' });
const validateShape = ajv.compile(GatewayConfigSchema);

/**
 * Errors inside one transform item are not reported from here: ajv can only say that the
 * item matches none of nine alternatives. ./transforms-check.ts reports them instead.
 */
const TRANSFORM_ITEM = /^\/routes\/[^/]+\/transforms\/[^/]+(\/|$)/;
/** The same for a rate limit's `key` (a string or an object): ./validate.ts reports it. */
const RATE_LIMIT_KEY = /^\/routes\/[^/]+\/rateLimit\/key(\/|$)/;

export function checkShape(input: unknown): PathedError[] {
  if (validateShape(input)) return [];
  const out: PathedError[] = [];
  for (const error of validateShape.errors ?? []) {
    if (TRANSFORM_ITEM.test(error.instancePath) || RATE_LIMIT_KEY.test(error.instancePath)) continue;
    out.push(translate(error, input));
  }
  return out;
}

function translate(error: ErrorObject, root: unknown): PathedError {
  const segments = segmentsFromPointer(error.instancePath, root);
  const schema = error.parentSchema ?? {};
  switch (error.keyword) {
    case 'additionalProperties': {
      const field = String(error.params.additionalProperty);
      const known = Object.keys((schema.properties as Record<string, unknown> | undefined) ?? {});
      const guess = closest(field, known);
      return {
        segments: [...segments, field],
        message: guess === undefined ? `unknown field (allowed: ${known.join(', ')})` : `unknown field (did you mean "${guess}"?)`,
      };
    }
    case 'required':
      return { segments: [...segments, String(error.params.missingProperty)], message: 'is required' };
    case 'type':
      return { segments, message: `must be ${article(String(error.params.type))} (got ${describeValue(error.data)})` };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { segments, message: `${rangeText(schema)} (got ${describeValue(error.data)})` };
    case 'enum':
      return {
        segments,
        message: `must be one of: ${(error.params.allowedValues as unknown[]).map(String).join(', ')} (got ${describeValue(error.data)})`,
      };
    case 'pattern': {
      const custom = schema.patternErrorMessage;
      const text = typeof custom === 'string' ? custom : `must match ${String(error.params.pattern)}`;
      return { segments, message: `${text} (got ${describeValue(error.data)})` };
    }
    case 'minItems':
      return { segments, message: 'must not be empty (omit the field instead)' };
    case 'minLength':
      return { segments, message: 'must not be empty' };
    default:
      return { segments, message: error.message ?? `fails the "${error.keyword}" rule` };
  }
}

function article(type: string): string {
  switch (type) {
    case 'integer':
    case 'array':
    case 'object':
      return `an ${type}`;
    default:
      return `a ${type}`;
  }
}

function rangeText(schema: Record<string, unknown>): string {
  const kind = schema.type === 'integer' ? 'an integer' : 'a number';
  const { minimum, maximum } = schema;
  if (typeof minimum === 'number' && typeof maximum === 'number') return `must be ${kind} from ${minimum} to ${maximum}`;
  if (typeof minimum === 'number') return `must be ${kind} >= ${minimum}`;
  return `must be ${kind} <= ${String(maximum)}`;
}

/** The known field nearest to a misspelt one, if it is near enough to be a typo. */
function closest(field: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(1, Math.min(2, Math.floor(field.length / 3)));
  for (const candidate of known) {
    const d = editDistance(field.toLowerCase(), candidate.toLowerCase());
    if (d <= bestDistance) {
      best = candidate;
      bestDistance = d - 1;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}
