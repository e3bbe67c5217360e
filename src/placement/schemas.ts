import { z } from 'zod';

/** Placement's answers, as far as the sync reads them (placement API, microversion 1.26). */

const uuid = z.string().min(1);

export const providerSchema = z.object({
  uuid,
  name: z.string(),
  generation: z.number().int(),
  parent_provider_uuid: z.string().nullable().optional(),
  root_provider_uuid: z.string().optional(),
});
export type ProviderRecord = z.infer<typeof providerSchema>;

export const providerListSchema = z.object({ resource_providers: z.array(providerSchema) });

export const inventoryRecordSchema = z.object({
  total: z.number().int(),
  reserved: z.number().int(),
  min_unit: z.number().int(),
  max_unit: z.number().int(),
  step_size: z.number().int(),
  allocation_ratio: z.number(),
});

export const inventoriesSchema = z.object({
  resource_provider_generation: z.number().int(),
  inventories: z.record(z.string(), inventoryRecordSchema),
});

export const providerTraitsSchema = z.object({
  resource_provider_generation: z.number().int(),
  traits: z.array(z.string()),
});

export const usagesSchema = z.object({
  resource_provider_generation: z.number().int(),
  usages: z.record(z.string(), z.number().int()),
});

export const traitListSchema = z.object({ traits: z.array(z.string()) });

/** Placement's error body (microversion 1.23 and later carry `code`). */
export const errorBodySchema = z.object({
  errors: z
    .array(
      z.object({
        status: z.number().int().optional(),
        title: z.string().optional(),
        detail: z.string().optional(),
        code: z.string().optional(),
      }),
    )
    .min(1),
});

/** Keystone v3 `POST /v3/auth/tokens` answer: the token's expiry and the service catalog. */
export const keystoneTokenSchema = z.object({
  token: z.object({
    expires_at: z.string(),
    catalog: z
      .array(
        z.object({
          type: z.string(),
          name: z.string().optional(),
          endpoints: z.array(
            z.object({
              interface: z.string(),
              url: z.string().min(1),
              region: z.string().nullable().optional(),
              region_id: z.string().nullable().optional(),
            }),
          ),
        }),
      )
      .optional(),
  }),
});
export type KeystoneToken = z.infer<typeof keystoneTokenSchema>;
