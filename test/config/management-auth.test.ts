import { describe, expect, it } from 'vitest';
import { applyAndValidate, applyChange, diffConfigs, isEmptyChange } from '../../src/config/diff.js';
import { canonicalConfigJson } from '../../src/config/canonical.js';
import { validateConfig } from '../../src/config/validate.js';
import type { GatewayConfig } from '../../src/config/types.js';

const base: GatewayConfig = {
  routes: [{ id: 'r', cluster: 'c', match: { path: '/' } }],
  clusters: [{ id: 'c', destinations: [{ id: 'd', address: 'http://127.0.0.1:9000' }] }],
  authPolicies: [{ id: 'sso', jwt: { issuer: 'https://sso.test', audiences: ['gw'], algorithms: ['RS256'], jwksUri: 'https://sso.test/jwks' } }],
};
const withStaff: GatewayConfig = { ...base, managementAuth: [{ id: 'staff', authPolicy: 'sso', adminRole: 'gateway-admin', readOnlyRole: 'gateway-viewer' }] };

describe('managementAuth', () => {
  it('validate_acceptsAnEntryNamingAnExistingPolicy', () => {
    const r = validateConfig(withStaff);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.config.managementAuth).toEqual(withStaff.managementAuth);
  });

  it('validate_reportsAnUnknownPolicy_andDuplicateIds_withTheirPaths', () => {
    const r = validateConfig({ ...base, managementAuth: [
      { id: 'a', authPolicy: 'nope', adminRole: 'x' },
      { id: 'a', authPolicy: 'sso', adminRole: 'x' },
      { id: 'b', authPolicy: 'sso' },
    ] });
    expect(r.ok).toBe(false);
    const paths = r.ok ? [] : r.errors.map((e) => e.path);
    expect(paths).toContain('managementAuth[0].authPolicy');
    expect(paths).toContain('managementAuth[1].id');
    expect(paths.some((p) => p.startsWith('managementAuth[2]'))).toBe(true);
  });

  it('diff_carriesTheList_andRoundTrips', () => {
    const change = diffConfigs(base, withStaff);
    expect(change.upsertManagementAuth).toHaveLength(1);
    expect(canonicalConfigJson(applyChange(base, change))).toBe(canonicalConfigJson(withStaff));
    expect(isEmptyChange(diffConfigs(withStaff, withStaff))).toBe(true);
    const back = diffConfigs(withStaff, base);
    expect(back.deleteManagementAuth).toEqual(['staff']);
  });

  it('applyAndValidate_rejectsDeletingAPolicyThatAnEntryStillNames', () => {
    const r = applyAndValidate(withStaff, { upsertRoutes: [], deleteRoutes: [], upsertClusters: [], deleteClusters: [], deleteAuthPolicies: ['sso'] });
    expect(r.ok).toBe(false);
    expect(r.ok ? [] : r.errors.map((e) => e.path)).toContain('managementAuth[0].authPolicy');
  });
});
