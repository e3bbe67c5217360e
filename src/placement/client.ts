import type { Dispatcher } from 'undici';
import type { z } from 'zod';
import { describeIssues } from '../util/validation.js';
import { ServiceError, httpCall, oneLine, parseJson } from './http.js';
import type { InventoryRecord } from './inventory.js';
import type { Authenticator } from './keystone.js';
import type { ProviderRecord } from './schemas.js';
import {
  errorBodySchema,
  inventoriesSchema,
  providerListSchema,
  providerSchema,
  providerTraitsSchema,
  traitListSchema,
  usagesSchema,
} from './schemas.js';

/**
 * The microversion every call asks for: 1.26 (Rocky) has nested providers with parents,
 * provider bodies on create (1.20), error codes (1.23) and reserved == total (1.26).
 */
export const MICROVERSION = '1.26';

/** What the sync does with Placement; PlacementClient implements it, tests may wrap it. */
export interface PlacementApi {
  listProviders(): Promise<ProviderRecord[]>;
  inventories(
    uuid: string,
  ): Promise<{ generation: number; inventories: Record<string, InventoryRecord> }>;
  traits(uuid: string): Promise<{ generation: number; traits: string[] }>;
  usages(uuid: string): Promise<{ generation: number; usages: Record<string, number> }>;
  /** Existing traits whose names start with `prefix`. */
  traitsStartingWith(prefix: string): Promise<string[]>;
  resourceClassExists(name: string): Promise<boolean>;
  ensureResourceClass(name: string): Promise<void>;
  ensureTrait(name: string): Promise<void>;
  /** Creates a provider; returns its generation. */
  createProvider(provider: { uuid: string; name: string; parentUuid: string }): Promise<number>;
  /** Replaces a provider's inventories; returns the new generation. */
  setInventories(
    uuid: string,
    generation: number,
    inventories: Record<string, InventoryRecord>,
  ): Promise<number>;
  /** Replaces a provider's traits; returns the new generation. */
  setTraits(uuid: string, generation: number, traits: string[]): Promise<number>;
  /** Deletes a provider; one that is already gone is not an error. */
  deleteProvider(uuid: string): Promise<void>;
}

export interface RequestOptions {
  body?: unknown;
  /** Statuses that are an answer rather than an error (default: 200). */
  expect?: number[];
  microversion?: string;
}

/** Placement's REST API over undici, with Keystone (or noauth) tokens and deadlines. */
export class PlacementClient implements PlacementApi {
  constructor(
    private readonly auth: Authenticator,
    private readonly dispatcher: Dispatcher,
    private readonly timeoutMs: number,
    private readonly microversion = MICROVERSION,
  ) {}

  /** One call; a 401 renews the token once. Returns the status and the parsed body (if any). */
  async request(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    options: RequestOptions = {},
  ): Promise<{ status: number; body: unknown }> {
    const what = `Placement ${method} ${path.split('?')[0] ?? path}`;
    for (let attempt = 0; ; attempt++) {
      const session = await this.auth.session();
      const answer = await httpCall(this.dispatcher, {
        method,
        url: `${session.endpoint}${path}`,
        headers: {
          'x-auth-token': session.token,
          'openstack-api-version': `placement ${options.microversion ?? this.microversion}`,
        },
        ...(options.body !== undefined ? { body: options.body } : {}),
        timeoutMs: this.timeoutMs,
        what,
      });
      if (answer.status === 401 && attempt === 0) {
        this.auth.invalidate(session.token);
        continue;
      }
      if ((options.expect ?? [200]).includes(answer.status)) {
        const body = answer.text === '' ? undefined : parseJson(answer.text, what);
        return { status: answer.status, body };
      }
      throw answerError(what, answer.status, answer.text);
    }
  }

  async listProviders(): Promise<ProviderRecord[]> {
    const body = await this.getJson('/resource_providers', providerListSchema);
    return body.resource_providers;
  }

  async inventories(uuid: string) {
    const body = await this.getJson(`/resource_providers/${uuid}/inventories`, inventoriesSchema);
    return { generation: body.resource_provider_generation, inventories: body.inventories };
  }

  async traits(uuid: string) {
    const body = await this.getJson(`/resource_providers/${uuid}/traits`, providerTraitsSchema);
    return { generation: body.resource_provider_generation, traits: body.traits };
  }

  async usages(uuid: string) {
    const body = await this.getJson(`/resource_providers/${uuid}/usages`, usagesSchema);
    return { generation: body.resource_provider_generation, usages: body.usages };
  }

  async traitsStartingWith(prefix: string): Promise<string[]> {
    const query = `name=startswith:${encodeURIComponent(prefix)}`;
    return (await this.getJson(`/traits?${query}`, traitListSchema)).traits;
  }

  async resourceClassExists(name: string): Promise<boolean> {
    const answer = await this.request('GET', `/resource_classes/${name}`, { expect: [200, 404] });
    return answer.status === 200;
  }

  async ensureResourceClass(name: string): Promise<void> {
    await this.request('PUT', `/resource_classes/${name}`, { expect: [201, 204] });
  }

  async ensureTrait(name: string): Promise<void> {
    await this.request('PUT', `/traits/${name}`, { expect: [201, 204] });
  }

  async createProvider(provider: { uuid: string; name: string; parentUuid: string }) {
    const answer = await this.request('POST', '/resource_providers', {
      body: {
        uuid: provider.uuid,
        name: provider.name,
        parent_provider_uuid: provider.parentUuid,
      },
    });
    return validate(providerSchema, answer.body, 'Placement POST /resource_providers').generation;
  }

  async setInventories(
    uuid: string,
    generation: number,
    inventories: Record<string, InventoryRecord>,
  ): Promise<number> {
    const path = `/resource_providers/${uuid}/inventories`;
    const answer = await this.request('PUT', path, {
      body: { resource_provider_generation: generation, inventories },
    });
    return validate(inventoriesSchema, answer.body, `Placement PUT ${path}`)
      .resource_provider_generation;
  }

  async setTraits(uuid: string, generation: number, traits: string[]): Promise<number> {
    const path = `/resource_providers/${uuid}/traits`;
    const answer = await this.request('PUT', path, {
      body: { resource_provider_generation: generation, traits },
    });
    return validate(providerTraitsSchema, answer.body, `Placement PUT ${path}`)
      .resource_provider_generation;
  }

  async deleteProvider(uuid: string): Promise<void> {
    await this.request('DELETE', `/resource_providers/${uuid}`, { expect: [204, 404] });
  }

  private async getJson<S extends z.ZodType>(path: string, schema: S): Promise<z.infer<S>> {
    const answer = await this.request('GET', path);
    return validate(schema, answer.body, `Placement GET ${path.split('?')[0] ?? path}`);
  }
}

function validate<S extends z.ZodType>(schema: S, body: unknown, what: string): z.infer<S> {
  const result = schema.safeParse(body);
  if (!result.success) {
    throw new ServiceError(`unexpected answer: ${describeIssues(what, result.error)}`);
  }
  return result.data;
}

function answerError(what: string, status: number, text: string): ServiceError {
  let detail = oneLine(text);
  let code: string | undefined;
  try {
    const parsed = errorBodySchema.safeParse(JSON.parse(text));
    if (parsed.success) {
      const first = parsed.data.errors[0];
      code = first?.code;
      detail = oneLine(first?.detail ?? first?.title ?? text);
    }
  } catch {
    // not JSON: keep the text
  }
  return new ServiceError(`${what}: ${status}${code ? ` ${code}` : ''}: ${detail}`, status, code);
}
