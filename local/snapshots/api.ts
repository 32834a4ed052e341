/**
 * The local snapshot controller's API calls: snapshot.storage.k8s.io/v1 objects through
 * client-node's CustomObjectsApi, claims and Events through CoreV1Api, all as plain JSON and
 * `undefined` for 404.
 */
import { ApiException, CoreV1Api, CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { SNAPSHOT_GROUP } from '../../shared/snapshots.ts';
import { type Involved, mergePatch, orUndefined, plain, recordEvent } from '../client-node.ts';

export const VERSION = 'v1';

export type Json = Record<string, unknown>;

export interface SnapshotJson {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
    creationTimestamp?: string;
  };
  spec?: Json;
  status?: Json;
  // VolumeSnapshotClass keeps these at the top level.
  driver?: string;
  deletionPolicy?: string;
  parameters?: Record<string, string>;
}

export class SnapshotApi {
  readonly #custom: CustomObjectsApi;
  readonly #core: CoreV1Api;

  constructor(kc: KubeConfig) {
    this.#custom = kc.makeApiClient(CustomObjectsApi);
    this.#core = kc.makeApiClient(CoreV1Api);
  }

  async snapshot(namespace: string, name: string): Promise<SnapshotJson | undefined> {
    return (await orUndefined(
      this.#custom.getNamespacedCustomObject({
        group: SNAPSHOT_GROUP,
        version: VERSION,
        namespace,
        plural: 'volumesnapshots',
        name,
      }),
    )) as SnapshotJson | undefined;
  }

  async snapshots(namespace: string): Promise<SnapshotJson[]> {
    const list = (await this.#custom.listNamespacedCustomObject({
      group: SNAPSHOT_GROUP,
      version: VERSION,
      namespace,
      plural: 'volumesnapshots',
    })) as { items: SnapshotJson[] };
    return list.items;
  }

  async patchSnapshot(namespace: string, name: string, body: Json): Promise<void> {
    await orUndefined(
      this.#custom.patchNamespacedCustomObject(
        { group: SNAPSHOT_GROUP, version: VERSION, namespace, plural: 'volumesnapshots', name, body },
        mergePatch,
      ),
    );
  }

  async patchSnapshotStatus(namespace: string, name: string, status: Json): Promise<void> {
    await orUndefined(
      this.#custom.patchNamespacedCustomObjectStatus(
        {
          group: SNAPSHOT_GROUP,
          version: VERSION,
          namespace,
          plural: 'volumesnapshots',
          name,
          body: { status },
        },
        mergePatch,
      ),
    );
  }

  async cluster(plural: 'volumesnapshotclasses' | 'volumesnapshotcontents', name: string) {
    return (await orUndefined(
      this.#custom.getClusterCustomObject({ group: SNAPSHOT_GROUP, version: VERSION, plural, name }),
    )) as SnapshotJson | undefined;
  }

  async classes(): Promise<SnapshotJson[]> {
    const list = (await this.#custom.listClusterCustomObject({
      group: SNAPSHOT_GROUP,
      version: VERSION,
      plural: 'volumesnapshotclasses',
    })) as { items: SnapshotJson[] };
    return list.items;
  }

  async createClass(body: SnapshotJson): Promise<void> {
    await this.#custom.createClusterCustomObject({
      group: SNAPSHOT_GROUP,
      version: VERSION,
      plural: 'volumesnapshotclasses',
      body,
    });
  }

  /** Creates a VolumeSnapshotContent; one that exists already is returned as it is. */
  async createContent(body: SnapshotJson): Promise<SnapshotJson> {
    try {
      return (await this.#custom.createClusterCustomObject({
        group: SNAPSHOT_GROUP,
        version: VERSION,
        plural: 'volumesnapshotcontents',
        body,
      })) as SnapshotJson;
    } catch (e) {
      if (e instanceof ApiException && e.code === 409) {
        const live = await this.cluster('volumesnapshotcontents', body.metadata.name);
        if (live) return live;
      }
      throw e;
    }
  }

  async patchContentStatus(name: string, status: Json): Promise<void> {
    await orUndefined(
      this.#custom.patchClusterCustomObjectStatus(
        { group: SNAPSHOT_GROUP, version: VERSION, plural: 'volumesnapshotcontents', name, body: { status } },
        mergePatch,
      ),
    );
  }

  async deleteContent(name: string): Promise<void> {
    await orUndefined(
      this.#custom.deleteClusterCustomObject({
        group: SNAPSHOT_GROUP,
        version: VERSION,
        plural: 'volumesnapshotcontents',
        name,
      }),
    );
  }

  async claim(namespace: string, name: string): Promise<Json | undefined> {
    const c = await orUndefined(this.#core.readNamespacedPersistentVolumeClaim({ namespace, name }));
    return c ? plain<Json>(c) : undefined;
  }

  async claims(namespace: string): Promise<Json[]> {
    const list = await this.#core.listNamespacedPersistentVolumeClaim({ namespace });
    return plain<Json[]>(list.items);
  }

  async patchClaimStatus(namespace: string, name: string, status: Json): Promise<void> {
    await orUndefined(
      this.#core.patchNamespacedPersistentVolumeClaimStatus(
        { namespace, name, body: { status } },
        mergePatch,
      ),
    );
  }

  /** A core/v1 Event, as the snapshot controller and provisioner record them; failures are ignored. */
  async event(
    involved: Involved,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
    at: Date,
  ): Promise<void> {
    const suffix = `${at.getTime().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`;
    await recordEvent(
      this.#core,
      `${involved.name}.${suffix}`,
      involved,
      type,
      reason,
      message,
      'snapshot-controller',
      at,
    );
  }
}
