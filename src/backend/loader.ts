// Loads one version from the registry: manifest and sha256-verified bytes (registry), decoded as data
// (model), checked against each other and probed (ServedModel). Any failure throws a FlywheelError
// naming the version; the holder logs it and keeps the model it has.
import { decodeArtifact } from '../model/index.js';
import type { Registry } from '../registry/index.js';
import type { LoadVersion } from './holder.js';
import { ServedModel } from './served-model.js';

export function registryLoader(registry: Registry): LoadVersion {
  return async (version) => {
    const { manifest, bytes } = await registry.loadArtifact(version);
    return new ServedModel(version, manifest, decodeArtifact(bytes));
  };
}
