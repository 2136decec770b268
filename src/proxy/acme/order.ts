/**
 * One ACME (RFC 8555) order for one host with HTTP-01, through acme-client: the account (made or
 * found with the stored key), the order, each authorization's challenge published for every
 * proxy to answer, then finalization with a fresh key and the certificate chain. Loaded only when
 * a route asks for ACME (acme-client brings axios and its crypto along).
 */
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import { axios, Client, crypto } from 'acme-client';

/** An order that did not end in a certificate: `detail` is what the CA (or the step) said. */
export class AcmeOrderError extends Error {
  override readonly name = 'AcmeOrderError';
  constructor(
    readonly host: string,
    readonly step: string,
    readonly detail: string,
  ) {
    super(`${step}: ${detail}`);
  }
}

export interface OrderInput {
  directory: string;
  accountKey: string;
  email: string | undefined;
  host: string;
  /** makes the key authorization answerable by every proxy; resolves to its withdrawal */
  publish(token: string, keyAuthorization: string): Promise<() => Promise<void>>;
}

export interface Issued {
  /** PEM chain, leaf first */
  cert: string;
  /** PEM private key of the leaf */
  key: string;
}

/**
 * Trusts `caPem` (besides the system roots) for the ACME server's HTTPS. acme-client talks
 * through its one axios instance (its documented way to configure the client's HTTP), so this is
 * per process; every issuer of a process uses the same --acme-ca.
 */
export function trustAcmeCa(caPem: string | undefined): void {
  if (caPem === undefined) return;
  axios.defaults.httpsAgent = new Agent({ ca: [...rootCertificates, caPem], keepAlive: true });
}

/** A new account key (EC P-256, PEM). */
export async function newAccountKey(): Promise<string> {
  return (await crypto.createPrivateEcdsaKey()).toString();
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

async function step<T>(host: string, name: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof AcmeOrderError) throw err;
    throw new AcmeOrderError(host, name, message(err));
  }
}

/** Orders a certificate for `host`; throws AcmeOrderError naming the step and the CA's answer. */
export async function orderCertificate(input: OrderInput): Promise<Issued> {
  const { host } = input;
  // poll the CA every 0.5 s at first (pebble and Let's Encrypt answer within seconds)
  const client = new Client({ directoryUrl: input.directory, accountKey: input.accountKey, backoffAttempts: 10, backoffMin: 500, backoffMax: 5000 });
  await step(host, 'account', () => client.createAccount({ termsOfServiceAgreed: true, ...(input.email === undefined ? {} : { contact: [`mailto:${input.email}`] }) }));
  const order = await step(host, 'new order', () => client.createOrder({ identifiers: [{ type: 'dns', value: host }] }));
  const authorizations = await step(host, 'authorizations', () => client.getAuthorizations(order));
  for (const authz of authorizations) {
    if (authz.status === 'valid') continue;
    const challenge = authz.challenges.find((c) => c.type === 'http-01');
    if (challenge === undefined) throw new AcmeOrderError(host, 'challenge', `the CA offers no http-01 challenge for ${authz.identifier.value}`);
    const keyAuthorization = await step(host, 'challenge', () => client.getChallengeKeyAuthorization(challenge));
    const withdraw = await step(host, 'publish token', () => input.publish(challenge.token, keyAuthorization));
    try {
      await step(host, 'challenge', () => client.completeChallenge(challenge));
      await step(host, 'validation', () => client.waitForValidStatus(challenge));
    } finally {
      await withdraw().catch(() => undefined);
    }
  }
  const [key, csr] = await step(host, 'csr', async () => crypto.createCsr({ commonName: host, altNames: [host] }, await crypto.createPrivateEcdsaKey()));
  const finalized = await step(host, 'finalize', () => client.finalizeOrder(order, csr));
  const cert = await step(host, 'certificate', () => client.getCertificate(finalized));
  return { cert, key: key.toString() };
}
