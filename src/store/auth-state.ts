import type { ByteReader, ByteWriter } from '../codec/index.js';
import {
  AuthFailedError,
  AuthNotEnabledError,
  AuthOldRevisionError,
  InvalidAuthManagementError,
  PermissionDeniedError,
  PermissionNotGrantedError,
  RoleAlreadyExistError,
  RoleEmptyError,
  RoleNotFoundError,
  RoleNotGrantedError,
  RootRoleNotExistError,
  RootUserNotExistError,
  TooManyAuthEntriesError,
  UserAlreadyExistError,
  UserEmptyError,
  UserNotFoundError,
} from './errors.js';
import type { Access, Interval, Permission } from './auth-permissions.js';
import { PERMISSION_TYPES, compareBytes, covers, mergedIntervals, samePermissionRange } from './auth-permissions.js';
import { AUTH_HASH_BYTES_MAX, AUTH_NAME_BYTES_MAX, AUTH_PERMISSIONS_PER_ROLE_MAX, AUTH_ROLES_MAX, AUTH_ROLES_PER_USER_MAX, AUTH_USERS_MAX } from './limits.js';

/**
 * etcd's auth store as replicated state: whether auth is on, its revision,
 * users (with a password hash, never a password: members hash before they
 * propose) and roles with key-range permissions. Pure and deterministic like
 * the rest of the state machine; tokens are not here (they are each
 * member's, see api/auth/tokens.ts), only the commands that hand them out.
 *
 * The auth revision counts changes that can alter what a token may do
 * (etcd's authRevision): a JWT issued at an older revision is refused with
 * "revision of auth store is old", and the client authenticates again.
 */

export const ROOT_USER = 'root';
export const ROOT_ROLE = 'root';

export interface AuthUser {
  readonly name: string;
  /** A bcrypt hash ('' for a user added with no_password, who cannot authenticate). */
  readonly passwordHash: string;
  /** Sorted, without duplicates (etcd keeps them sorted). */
  readonly roles: readonly string[];
  readonly noPassword: boolean;
}

export interface AuthRole {
  readonly name: string;
  /** Sorted by key (etcd's permSlice order), one per (key, range_end). */
  readonly permissions: readonly Permission[];
}

/** The replicated auth commands (one log command, `auth`, carries one of these). */
export type AuthRequest =
  | { op: 'enable' }
  | { op: 'disable' }
  /** Records that `name` authenticated and was given simple token `token` (every member learns the token when it applies this). */
  | { op: 'authenticate'; name: string; token: string }
  | { op: 'userAdd'; name: string; passwordHash: string; noPassword: boolean }
  | { op: 'userDelete'; name: string }
  | { op: 'userChangePassword'; name: string; passwordHash: string }
  | { op: 'userGrantRole'; name: string; role: string }
  | { op: 'userRevokeRole'; name: string; role: string }
  | { op: 'roleAdd'; name: string }
  | { op: 'roleDelete'; name: string }
  | { op: 'roleGrantPermission'; name: string; permission: Permission }
  | { op: 'roleRevokePermission'; name: string; key: Uint8Array; rangeEnd: Uint8Array };

export type AuthOp = AuthRequest['op'];

/** What an applied auth command answers; the node layer also reacts to it (tokens learned or dropped). */
export interface AuthResponse {
  header: { revision: number };
  request: AuthRequest;
  /** The auth revision after the command. */
  authRevision: number;
}

/** Who a request comes from, once its token was checked (api/auth). */
export interface AuthInfo {
  readonly name: string;
  /** The auth revision the token was issued at (simple tokens: the current one, as etcd). */
  readonly revision: number;
}

/** The state as snapshots carry it. */
export interface AuthSnapshot {
  enabled: boolean;
  revision: number;
  users: AuthUser[];
  roles: AuthRole[];
}

const encoder = new TextEncoder();

function checkName(name: string, empty: () => Error): void {
  if (name.length === 0) throw empty();
  if (encoder.encode(name).length > AUTH_NAME_BYTES_MAX) throw new TooManyAuthEntriesError('bytes in a name', AUTH_NAME_BYTES_MAX);
}

function sortedInsert(values: readonly string[], value: string): string[] {
  return [...values, value].sort();
}

export class AuthState {
  #enabled = false;
  /** etcd starts its auth revision at 1. */
  #revision = 1;
  #users = new Map<string, AuthUser>();
  #roles = new Map<string, AuthRole>();
  /** Merged permission intervals per user and access, valid for #cacheRevision only (etcd's rangePermCache). */
  #cache = new Map<string, Interval[]>();
  #cacheRevision = 0;

  get enabled(): boolean {
    return this.#enabled;
  }

  get revision(): number {
    return this.#revision;
  }

  user(name: string): AuthUser | undefined {
    return this.#users.get(name);
  }

  role(name: string): AuthRole | undefined {
    return this.#roles.get(name);
  }

  /** Users by name. */
  users(): AuthUser[] {
    return [...this.#users.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Roles by name. */
  roles(): AuthRole[] {
    return [...this.#roles.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** True when the user exists and holds the root role. */
  isRoot(name: string): boolean {
    return this.#users.get(name)?.roles.includes(ROOT_ROLE) === true;
  }

  // ------------------------------------------------------------------ checks (etcd's IsRangePermitted, IsAdminPermitted)

  /**
   * Throws unless `info` may `access` the range (key, range_end). Auth off:
   * everything is allowed. No user: "user name is empty". A token from an
   * older auth revision: "revision of auth store is old". Root may do
   * everything.
   */
  checkRange(info: AuthInfo | undefined, key: Uint8Array, rangeEnd: Uint8Array, access: Access): void {
    if (!this.#enabled) return;
    const user = this.#knownUser(info);
    if (user.roles.includes(ROOT_ROLE)) return;
    if (!covers(this.#intervals(user, access), key, rangeEnd)) throw new PermissionDeniedError();
  }

  /** Throws unless `info` holds the root role (or auth is off). */
  checkAdmin(info: AuthInfo | undefined): void {
    if (!this.#enabled) return;
    if (!this.#knownUser(info).roles.includes(ROOT_ROLE)) throw new PermissionDeniedError();
  }

  /** Throws unless `info` is `name` itself or root (etcd lets users read themselves). */
  checkSelfOrAdmin(info: AuthInfo | undefined, name: string): void {
    if (!this.#enabled) return;
    const user = this.#knownUser(info);
    if (user.name !== name && !user.roles.includes(ROOT_ROLE)) throw new PermissionDeniedError();
  }

  /** Throws unless `info` holds role `role` or is root (etcd lets users read their own roles). */
  checkRoleOrAdmin(info: AuthInfo | undefined, role: string): void {
    if (!this.#enabled) return;
    const user = this.#knownUser(info);
    if (!user.roles.includes(role) && !user.roles.includes(ROOT_ROLE)) throw new PermissionDeniedError();
  }

  #knownUser(info: AuthInfo | undefined): AuthUser {
    if (info === undefined || info.name === '') throw new UserEmptyError();
    if (info.revision < this.#revision) throw new AuthOldRevisionError();
    const user = this.#users.get(info.name);
    if (user === undefined) throw new PermissionDeniedError();
    return user;
  }

  #intervals(user: AuthUser, access: Access): Interval[] {
    if (this.#cacheRevision !== this.#revision) {
      this.#cache.clear();
      this.#cacheRevision = this.#revision;
    }
    const cacheKey = `${access}:${user.name}`;
    let intervals = this.#cache.get(cacheKey);
    if (intervals === undefined) {
      const permissions = user.roles.flatMap((name) => this.#roles.get(name)?.permissions ?? []);
      intervals = mergedIntervals(permissions, access);
      if (this.#cache.size >= AUTH_USERS_MAX * 2) this.#cache.clear();
      this.#cache.set(cacheKey, intervals);
    }
    return intervals;
  }

  // ------------------------------------------------------------------ apply

  /** Applies one auth command; throws the etcd error that refuses it and leaves the state unchanged. */
  apply(request: AuthRequest): number {
    switch (request.op) {
      case 'enable':
        return this.#enable();
      case 'disable':
        if (this.#enabled) this.#commit(() => (this.#enabled = false));
        return this.#revision;
      case 'authenticate':
        if (!this.#enabled) throw new AuthNotEnabledError();
        if (!this.#users.has(request.name)) throw new AuthFailedError();
        return this.#revision;
      case 'userAdd':
        return this.#userAdd(request.name, request.passwordHash, request.noPassword);
      case 'userDelete':
        return this.#userDelete(request.name);
      case 'userChangePassword': {
        const user = this.#users.get(request.name);
        if (user === undefined) throw new UserNotFoundError();
        checkHash(request.passwordHash);
        return this.#commit(() => this.#users.set(user.name, { ...user, passwordHash: request.passwordHash, noPassword: false }));
      }
      case 'userGrantRole':
        return this.#userGrantRole(request.name, request.role);
      case 'userRevokeRole':
        return this.#userRevokeRole(request.name, request.role);
      case 'roleAdd':
        return this.#roleAdd(request.name);
      case 'roleDelete':
        return this.#roleDelete(request.name);
      case 'roleGrantPermission':
        return this.#roleGrantPermission(request.name, request.permission);
      case 'roleRevokePermission':
        return this.#roleRevokePermission(request.name, request.key, request.rangeEnd);
    }
  }

  #commit(change: () => unknown): number {
    change();
    this.#revision++;
    return this.#revision;
  }

  /** etcd: enabling needs a root user holding the root role; enabling twice changes nothing. */
  #enable(): number {
    if (this.#enabled) return this.#revision;
    const root = this.#users.get(ROOT_USER);
    if (root === undefined) throw new RootUserNotExistError();
    if (!root.roles.includes(ROOT_ROLE)) throw new RootRoleNotExistError();
    return this.#commit(() => (this.#enabled = true));
  }

  #userAdd(name: string, passwordHash: string, noPassword: boolean): number {
    checkName(name, () => new UserEmptyError());
    if (this.#users.has(name)) throw new UserAlreadyExistError();
    if (this.#users.size >= AUTH_USERS_MAX) throw new TooManyAuthEntriesError('users', AUTH_USERS_MAX);
    if (!noPassword) checkHash(passwordHash);
    return this.#commit(() => this.#users.set(name, { name, passwordHash: noPassword ? '' : passwordHash, roles: [], noPassword }));
  }

  #userDelete(name: string): number {
    if (this.#enabled && name === ROOT_USER) throw new InvalidAuthManagementError();
    if (!this.#users.has(name)) throw new UserNotFoundError();
    return this.#commit(() => this.#users.delete(name));
  }

  /** etcd: the root role may be granted before it is added; granting a held role changes nothing. */
  #userGrantRole(name: string, role: string): number {
    const user = this.#users.get(name);
    if (user === undefined) throw new UserNotFoundError();
    if (role !== ROOT_ROLE && !this.#roles.has(role)) throw new RoleNotFoundError();
    if (user.roles.includes(role)) return this.#revision;
    if (user.roles.length >= AUTH_ROLES_PER_USER_MAX) throw new TooManyAuthEntriesError('roles of a user', AUTH_ROLES_PER_USER_MAX);
    return this.#commit(() => this.#users.set(name, { ...user, roles: sortedInsert(user.roles, role) }));
  }

  #userRevokeRole(name: string, role: string): number {
    if (this.#enabled && name === ROOT_USER && role === ROOT_ROLE) throw new InvalidAuthManagementError();
    const user = this.#users.get(name);
    if (user === undefined) throw new UserNotFoundError();
    if (!user.roles.includes(role)) throw new RoleNotGrantedError();
    return this.#commit(() => this.#users.set(name, { ...user, roles: user.roles.filter((held) => held !== role) }));
  }

  #roleAdd(name: string): number {
    checkName(name, () => new RoleEmptyError());
    if (this.#roles.has(name)) throw new RoleAlreadyExistError();
    if (this.#roles.size >= AUTH_ROLES_MAX) throw new TooManyAuthEntriesError('roles', AUTH_ROLES_MAX);
    return this.#commit(() => this.#roles.set(name, { name, permissions: [] }));
  }

  /** etcd: deleting a role revokes it from every user; the root role stays while auth is on. */
  #roleDelete(name: string): number {
    if (this.#enabled && name === ROOT_ROLE) throw new InvalidAuthManagementError();
    if (!this.#roles.has(name)) throw new RoleNotFoundError();
    return this.#commit(() => {
      this.#roles.delete(name);
      for (const user of this.#users.values()) {
        if (user.roles.includes(name)) this.#users.set(user.name, { ...user, roles: user.roles.filter((held) => held !== name) });
      }
    });
  }

  /** etcd: a permission on a (key, range_end) already granted has its type replaced; new ones are kept in key order. */
  #roleGrantPermission(name: string, permission: Permission): number {
    const role = this.#roles.get(name);
    if (role === undefined) throw new RoleNotFoundError();
    const index = role.permissions.findIndex((held) => samePermissionRange(held, permission));
    let permissions: Permission[];
    if (index >= 0) {
      permissions = role.permissions.map((held, at) => (at === index ? { ...held, permType: permission.permType } : held));
    } else {
      if (role.permissions.length >= AUTH_PERMISSIONS_PER_ROLE_MAX) throw new TooManyAuthEntriesError('permissions of a role', AUTH_PERMISSIONS_PER_ROLE_MAX);
      permissions = [...role.permissions, permission].sort((a, b) => compareBytes(a.key, b.key) || compareBytes(a.rangeEnd, b.rangeEnd));
    }
    return this.#commit(() => this.#roles.set(name, { name, permissions }));
  }

  #roleRevokePermission(name: string, key: Uint8Array, rangeEnd: Uint8Array): number {
    const role = this.#roles.get(name);
    if (role === undefined) throw new RoleNotFoundError();
    const permissions = role.permissions.filter((held) => !samePermissionRange(held, { key, rangeEnd }));
    if (permissions.length === role.permissions.length) throw new PermissionNotGrantedError();
    return this.#commit(() => this.#roles.set(name, { name, permissions }));
  }

  // ------------------------------------------------------------------ snapshots

  /** True when the state differs from a fresh one (a snapshot then needs the auth section). */
  get isInitial(): boolean {
    return !this.#enabled && this.#revision === 1 && this.#users.size === 0 && this.#roles.size === 0;
  }

  toSnapshot(): AuthSnapshot {
    return { enabled: this.#enabled, revision: this.#revision, users: this.users(), roles: this.roles() };
  }

  static fromSnapshot(snapshot: AuthSnapshot): AuthState {
    const state = new AuthState();
    state.#enabled = snapshot.enabled;
    state.#revision = snapshot.revision;
    for (const user of snapshot.users) state.#users.set(user.name, user);
    for (const role of snapshot.roles) state.#roles.set(role.name, role);
    return state;
  }
}

/** What a member may propose as a password hash: a bcrypt string (members hash before proposing). */
function checkHash(hash: string): void {
  if (hash.length === 0 || hash.length > AUTH_HASH_BYTES_MAX || !/^\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) throw new AuthFailedError();
}

// ------------------------------------------------------------------ encoding (shared by command.ts and snapshot.ts)

const AUTH_OPS: readonly AuthOp[] = [
  'enable',
  'disable',
  'authenticate',
  'userAdd',
  'userDelete',
  'userChangePassword',
  'userGrantRole',
  'userRevokeRole',
  'roleAdd',
  'roleDelete',
  'roleGrantPermission',
  'roleRevokePermission',
];

function writeString(writer: ByteWriter, value: string): void {
  writer.bytesWithVaruintLength(encoder.encode(value));
}

const decoder = new TextDecoder('utf-8', { fatal: false });
function readString(reader: ByteReader): string {
  return decoder.decode(reader.bytesWithVaruintLength());
}

function writePermission(writer: ByteWriter, permission: Permission): void {
  writer.u8(PERMISSION_TYPES.indexOf(permission.permType));
  writer.bytesWithVaruintLength(permission.key);
  writer.bytesWithVaruintLength(permission.rangeEnd);
}

function readPermission(reader: ByteReader): Permission {
  const permType = PERMISSION_TYPES[reader.u8()] ?? reader.fail('bad permission type');
  return { permType, key: reader.bytesWithVaruintLength().slice(), rangeEnd: reader.bytesWithVaruintLength().slice() };
}

export function writeAuthRequest(writer: ByteWriter, request: AuthRequest): void {
  writer.u8(AUTH_OPS.indexOf(request.op));
  switch (request.op) {
    case 'enable':
    case 'disable':
      return;
    case 'authenticate':
      writeString(writer, request.name);
      return writeString(writer, request.token);
    case 'userAdd':
      writeString(writer, request.name);
      writeString(writer, request.passwordHash);
      writer.bool(request.noPassword);
      return;
    case 'userDelete':
    case 'roleAdd':
    case 'roleDelete':
      return writeString(writer, request.name);
    case 'userChangePassword':
      writeString(writer, request.name);
      return writeString(writer, request.passwordHash);
    case 'userGrantRole':
    case 'userRevokeRole':
      writeString(writer, request.name);
      return writeString(writer, request.role);
    case 'roleGrantPermission':
      writeString(writer, request.name);
      return writePermission(writer, request.permission);
    case 'roleRevokePermission':
      writeString(writer, request.name);
      writer.bytesWithVaruintLength(request.key);
      writer.bytesWithVaruintLength(request.rangeEnd);
      return;
  }
}

export function readAuthRequest(reader: ByteReader): AuthRequest {
  const op = AUTH_OPS[reader.u8()] ?? reader.fail('bad auth op');
  switch (op) {
    case 'enable':
    case 'disable':
      return { op };
    case 'authenticate':
      return { op, name: readString(reader), token: readString(reader) };
    case 'userAdd':
      return { op, name: readString(reader), passwordHash: readString(reader), noPassword: reader.bool() };
    case 'userDelete':
    case 'roleAdd':
    case 'roleDelete':
      return { op, name: readString(reader) };
    case 'userChangePassword':
      return { op, name: readString(reader), passwordHash: readString(reader) };
    case 'userGrantRole':
    case 'userRevokeRole':
      return { op, name: readString(reader), role: readString(reader) };
    case 'roleGrantPermission':
      return { op, name: readString(reader), permission: readPermission(reader) };
    case 'roleRevokePermission':
      return { op, name: readString(reader), key: reader.bytesWithVaruintLength().slice(), rangeEnd: reader.bytesWithVaruintLength().slice() };
  }
}

export function writeAuthSnapshot(writer: ByteWriter, snapshot: AuthSnapshot): void {
  writer.bool(snapshot.enabled);
  writer.varuint(snapshot.revision);
  writer.varuint(snapshot.users.length);
  for (const user of snapshot.users) {
    writeString(writer, user.name);
    writeString(writer, user.passwordHash);
    writer.bool(user.noPassword);
    writer.varuint(user.roles.length);
    for (const role of user.roles) writeString(writer, role);
  }
  writer.varuint(snapshot.roles.length);
  for (const role of snapshot.roles) {
    writeString(writer, role.name);
    writer.varuint(role.permissions.length);
    for (const permission of role.permissions) writePermission(writer, permission);
  }
}

export function readAuthSnapshot(reader: ByteReader): AuthSnapshot {
  const enabled = reader.bool();
  const revision = reader.varuint();
  if (revision < 1) reader.fail('bad auth revision');
  const users: AuthUser[] = [];
  for (let count = reader.varuint(); count > 0; count--) {
    const name = readString(reader);
    const passwordHash = readString(reader);
    const noPassword = reader.bool();
    const roles: string[] = [];
    for (let roleCount = reader.varuint(); roleCount > 0; roleCount--) roles.push(readString(reader));
    if (users.length > 0 && users[users.length - 1]!.name >= name) reader.fail('users out of order');
    users.push({ name, passwordHash, noPassword, roles });
  }
  const roles: AuthRole[] = [];
  for (let count = reader.varuint(); count > 0; count--) {
    const name = readString(reader);
    const permissions: Permission[] = [];
    for (let permissionCount = reader.varuint(); permissionCount > 0; permissionCount--) permissions.push(readPermission(reader));
    if (roles.length > 0 && roles[roles.length - 1]!.name >= name) reader.fail('roles out of order');
    roles.push({ name, permissions });
  }
  return { enabled, revision, users, roles };
}
