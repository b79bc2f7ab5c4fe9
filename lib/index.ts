/**
 * The package's entry point: the registry as a construct for any stack (`OciRegistry`), the stack
 * this repository deploys (`RegistryStack`), their props, and the types of the parts both expose.
 */
export { OciRegistry, type OciRegistryProps } from './oci-registry';
export { RegistryStack, type RegistryStackProps } from './registry-stack';
export { AUTH_MODES, RegistryAccessControl, type AuthMode, type RegistryAuthProps } from './constructs/access-control';
export { RegistryApi, type RegistryDomainProps } from './constructs/api';
export { RegistryEvents, type RegistryEventsProps, type RegistryWebhookProps } from './constructs/events';
export { RegistryFrontDoor } from './constructs/front-door';
export { RegistryFunctions } from './constructs/functions';
export { RegistryGarbageCollection, type RegistryLifecycleProps } from './constructs/garbage-collection';
export { RegistryMaintenance } from './constructs/maintenance';
export { RegistryMonitoring } from './constructs/monitoring';
export { RegistryPullThroughCache, type PullThroughCacheRule } from './constructs/pull-through';
export { RegistryStorage, type StorageGrantee } from './constructs/storage';
export { RegistryUploader } from './constructs/uploader';
export { DEFAULT_MAX_NAME_DEPTH, type FunctionGroup } from '../lambda/config/routes';
