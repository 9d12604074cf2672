import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { checkPathTemplate } from '../../src/config/path-template.js';
import { parseRouteTemplate } from '../../src/routing/template.js';

/**
 * Validation is the gate in front of the routing compiler: a template that validation
 * accepts must never make `parseRouteTemplate` throw (it would fail a config swap that
 * was already acknowledged as valid).
 */
describe('path templates: validation agrees with the router', () => {
  const segment = fc.oneof(
    fc.constantFrom('users', 'a', 'API', 'x.y', '%41', '%zz', '.', '..', '', 'a b', 'f{x}', '~', ':v1'),
    fc.constantFrom('{id}', '{name}', '{_x}', '{1x}', '{}', '{**rest}', '{**id}', '{*r}', '{a.b}'),
  );
  const template = fc.tuple(fc.array(segment, { maxLength: 5 }), fc.boolean()).map(([segments, trailing]) => `/${segments.join('/')}${trailing ? '/' : ''}`);

  it('template_acceptedByValidation_isAcceptedByRouter', () => {
    fc.assert(
      fc.property(template, (t) => {
        if (checkPathTemplate(t).length === 0) expect(() => parseRouteTemplate(t), t).not.toThrow();
      }),
      { numRuns: 3000 },
    );
  });
});
