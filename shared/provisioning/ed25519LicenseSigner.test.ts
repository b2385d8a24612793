import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { LicenseRequest } from '#shared/domain/licenseSigner';
import { createEd25519LicenseSigner, deviceHash, LicenseKeyError, verifyLicense } from './ed25519LicenseSigner.ts';

const request: LicenseRequest = {
  instance: {
    instanceId: 'i-1',
    orderId: 'CS1',
    orderLineId: 'CS1-000001',
    product: { productId: 'OFFI1', skuCode: 'sku', productName: 'Product' },
    chargingMode: 'PERIOD',
    periodType: 'year',
    instanceExpireTime: '2027-11-24T23:59:59.000Z',
    testFlag: false,
  },
  eventId: 'ev-1',
  deviceFingerprint: 'aa:bb:cc|DISK1|BOARD1|CPU1',
  effectiveTime: new Date('2026-01-01T00:00:00Z'),
  expireTime: new Date('2026-12-31T00:00:00Z'),
  issuedAt: new Date('2026-01-01T00:00:05Z'),
};

describe('the Ed25519 License signer', () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const signer = createEd25519LicenseSigner({ privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() });

  it('signs a payload that verifies with the public key and carries instance, device and validity', async () => {
    const license = await signer.sign(request);
    if (!('characters' in license)) throw new Error('expected a string License');
    expect(license.characters).toMatch(/^[\w-]+\.[\w-]+$/);
    const payload = verifyLicense(signer.publicKeyPem!, license.characters);
    expect(payload).toMatchObject({
      instanceId: 'i-1',
      eventId: 'ev-1',
      device: deviceHash('aa:bb:cc|DISK1|BOARD1|CPU1'),
      effectiveTime: '2026-01-01T00:00:00.000Z',
      expireTime: '2026-12-31T00:00:00.000Z',
      productId: 'OFFI1',
    });
    expect(verifyLicense(publicKey, license.characters)).toEqual(payload);
  });

  it('is deterministic for the same request', async () => {
    expect(await signer.sign(request)).toEqual(await signer.sign(request));
  });

  it('refuses a tampered License, another key, or garbage', async () => {
    const license = (await signer.sign(request)) as { characters: string };
    const [body, sig] = license.characters.split('.');
    const forged = Buffer.from(Buffer.from(body!, 'base64url').toString().replace('2026-12-31', '2099-12-31')).toString('base64url');
    expect(verifyLicense(publicKey, `${forged}.${sig}`)).toBeUndefined();
    expect(verifyLicense(generateKeyPairSync('ed25519').publicKey, license.characters)).toBeUndefined();
    expect(verifyLicense(publicKey, 'not a license')).toBeUndefined();
    expect(() => verifyLicense(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey, license.characters)).not.toThrow();
  });

  it('without a key it throws when asked to sign; a non-Ed25519 key is refused', async () => {
    await expect(createEd25519LicenseSigner({}).sign(request)).rejects.toThrow(LicenseKeyError);
    expect(() => createEd25519LicenseSigner({ privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey })).toThrow(LicenseKeyError);
  });
});
