// Every REST call the client makes, one function each, named after its RPC. Paths come from the
// google.api.http annotations (see /openapi.json). Ids are strings: they are 64-bit numbers.
// Viewer ids and photo variants are always passed explicitly rather than left to server defaults.

import { request, upload } from './http.js';

const enc = encodeURIComponent;

// -- users ---------------------------------------------------------------------------------

export const createUser = (fields) => request('POST', '/v1/users', { body: fields });
export const authenticate = (username, password) =>
  request('POST', '/v1/auth/token', { body: { username, password } });
export const getUser = (userId, signal) => request('GET', `/v1/users/${userId}`, { signal }).then((r) => r.user);
export const getUserByUsername = (username, signal) =>
  request('GET', `/v1/usernames/${enc(username)}`, { signal }).then((r) => r.user);
export const batchGetUsers = (userIds, signal) =>
  userIds.length
    ? request('GET', '/v1/users:batchGet', { query: { userIds }, signal }).then((r) => r.users)
    : Promise.resolve([]);
/** A new profile picture (form: a `file` part): the user with its new avatar URLs. */
export const uploadAvatar = (form) => upload('/v1/avatar', form, () => {});
/** People whose username or name starts with `query` (case and accents aside): {users, nextPageToken}. */
export const searchUsers = (query, pageToken, signal) =>
  request('GET', '/v1/users:search', { query: { query, pageSize: 20, pageToken }, signal });
export const updateUser = (userId, displayName, bio) =>
  request('PATCH', `/v1/users/${userId}`, {
    body: { displayName, bio, updateMask: 'displayName,bio' },
  }).then((r) => r.user);

// -- follows -------------------------------------------------------------------------------

export const follow = (me, userId) => request('POST', `/v1/users/${me}/following`, { body: { followeeId: userId } });
export const unfollow = (me, userId) => request('DELETE', `/v1/users/${me}/following/${userId}`);
export const getFollowCounts = (userId, signal) => request('GET', `/v1/users/${userId}/follow-counts`, { signal });
export const isFollowing = (me, userId, signal) =>
  request('GET', `/v1/users/${me}/following:check`, { query: { followeeIds: userId }, signal }).then(
    (r) => Boolean(r.states?.[0]?.following),
  );
/** kind: 'followers' or 'following'; a page of {follows, nextPageToken}. */
export const listFollows = (userId, kind, pageToken, signal) =>
  request('GET', `/v1/users/${userId}/${kind}`, { query: { pageSize: 30, pageToken }, signal });

// -- photos --------------------------------------------------------------------------------

export const VARIANT = { display: 'PHOTO_VARIANT_DISPLAY', thumbnail: 'PHOTO_VARIANT_THUMBNAIL' };
/** mediaId: one image of an album (unset: the first). */
export const contentPath = (photoId, variant, mediaId) =>
  `/v1/photos/${photoId}/content?variant=${variant}${mediaId && mediaId !== photoId ? `&mediaId=${mediaId}` : ''}`;

export const uploadPhoto = (form, onProgress, signal) => upload('/v1/photos', form, onProgress, signal);
/** One image of an album, before the post: {media, created, expiresAt}. */
export const uploadMedia = (form, onProgress, signal) => upload('/v1/media', form, onProgress, signal);
/** metadata: as for uploadPhoto; images: [{mediaId, altText}], in order. */
export const createPost = (metadata, images) =>
  request('POST', '/v1/posts', { body: { metadata, images } }).then((r) => r.photo);
export const deletePhoto = (photoId) => request('DELETE', `/v1/photos/${photoId}`);
export const getPhoto = (photoId, signal) => request('GET', `/v1/photos/${photoId}`, { signal }).then((r) => r.photo);
/** fields: {title, caption, location, tags, altTexts: [{mediaId, altText}]}; every one is replaced. */
export const updatePhoto = (photoId, fields) =>
  request('PATCH', `/v1/photos/${photoId}`, { body: fields }).then((r) => r.photo);
export const batchGetPhotos = (photoIds, signal) =>
  request('GET', '/v1/photos:batchGet', { query: { photoIds }, signal }).then((r) => r.photos);
export const listUserPhotos = (userId, pageToken, signal) =>
  request('GET', `/v1/users/${userId}/photos`, { query: { pageSize: 18, pageToken }, signal });

// -- feed, views, search -------------------------------------------------------------------

export const getFeed = (me, pageToken, signal) =>
  request('GET', `/v1/users/${me}/feed`, { query: { pageSize: 8, pageToken }, signal });
export const viewPhoto = (photoId, viewerId, signal) =>
  request('GET', `/v1/views/photos/${photoId}`, { query: { userId: viewerId }, signal }).then((r) => r.view);
/** criteria: {tag, text, location}, any combination. */
export const searchPhotos = (criteria, pageToken, signal) =>
  request('GET', '/v1/search/photos', { query: { ...criteria, pageSize: 18, pageToken }, signal });

// -- likes and comments --------------------------------------------------------------------

export const likePhoto = (photoId, me) => request('PUT', `/v1/photos/${photoId}/likes/${me}`).then((r) => r.summary);
export const unlikePhoto = (photoId, me) =>
  request('DELETE', `/v1/photos/${photoId}/likes/${me}`).then((r) => r.summary);
/** Quiet: the feed shows photos without counts rather than a banner when Like or Comment is down. */
export const batchLikeSummaries = (photoIds, viewerId, signal) =>
  request('GET', '/v1/likes:batchSummary', { query: { photoIds, viewerId }, signal, quiet: true }).then(
    (r) => r.summaries,
  );
export const batchCommentCounts = (photoIds, signal) =>
  request('GET', '/v1/comments:batchCount', { query: { photoIds }, signal, quiet: true }).then((r) => r.counts);
export const listComments = (photoId, pageToken, signal) =>
  request('GET', `/v1/photos/${photoId}/comments`, {
    query: { pageSize: 20, pageToken, order: 'COMMENT_ORDER_OLDEST_FIRST' },
    signal,
  });
export const postComment = (photoId, me, text) =>
  request('POST', `/v1/photos/${photoId}/comments`, { body: { userId: me, text } }).then((r) => r.comment);
export const deleteComment = (photoId, commentId) => request('DELETE', `/v1/photos/${photoId}/comments/${commentId}`);
/** replyTo: a comment of this photo (a reply to a reply joins its top comment's thread). */
export const replyToComment = (photoId, me, text, replyTo) =>
  request('POST', `/v1/photos/${photoId}/comments`, { body: { userId: me, text, replyTo } }).then((r) => r.comment);
export const likeComment = (photoId, commentId) =>
  request('PUT', `/v1/photos/${photoId}/comments/${commentId}/like`, { body: {} }).then((r) => r.likes);
export const unlikeComment = (photoId, commentId) =>
  request('DELETE', `/v1/photos/${photoId}/comments/${commentId}/like`).then((r) => r.likes);
export const batchGetCommentLikes = (photoId, commentIds, signal) =>
  request('GET', `/v1/photos/${photoId}/comments:batchLikes`, { query: { commentIds }, signal, quiet: true }).then(
    (r) => r.likes || [],
  );

// -- notifications and live updates --------------------------------------------------------

export const listNotifications = (me, pageToken, signal) =>
  request('GET', `/v1/users/${me}/notifications`, { query: { pageSize: 20, pageToken }, signal });
export const markNotificationsRead = (me, upToPosition) =>
  request('POST', `/v1/users/${me}/notifications:markRead`, { body: { upToPosition } });
/** Server-Sent Events paths, read by live.js. */
export const notificationsWatchPath = (me) => `/v1/users/${me}/notifications:watch`;
export const feedWatchPath = (me) => `/v1/users/${me}/feed:watch`;

// -- privacy and safety: private accounts, follow requests, blocks, mutes ------------------

/** The signed-in person's side of a relationship: {private, following, requested, blocking, muting, followedBy}. */
export const getRelationship = (me, userId, signal) =>
  request('GET', `/v1/users/${me}/relationships`, { query: { userIds: userId }, signal }).then(
    (r) => r.relationships?.[0] || {},
  );
export const setPrivacy = (me, isPrivate) =>
  request('PUT', `/v1/users/${me}/privacy`, { body: { private: isPrivate } });
export const listFollowRequests = (me, pageToken, signal) =>
  request('GET', `/v1/users/${me}/follow-requests`, { query: { pageSize: 30, pageToken }, signal });
export const approveFollowRequest = (me, requesterId) =>
  request('POST', `/v1/users/${me}/follow-requests/${requesterId}:approve`, { body: {} });
export const rejectFollowRequest = (me, requesterId) =>
  request('POST', `/v1/users/${me}/follow-requests/${requesterId}:reject`, { body: {} });
export const withdrawFollowRequest = (me, userId) => request('DELETE', `/v1/users/${me}/follow-requests-sent/${userId}`);
export const block = (me, userId) => request('PUT', `/v1/users/${me}/blocks/${userId}`, { body: {} });
export const unblock = (me, userId) => request('DELETE', `/v1/users/${me}/blocks/${userId}`);
export const mute = (me, userId) => request('PUT', `/v1/users/${me}/mutes/${userId}`, { body: {} });
export const unmute = (me, userId) => request('DELETE', `/v1/users/${me}/mutes/${userId}`);
/** kind: 'blocks' or 'mutes'; a page of {users: [{userId, timeStamp}], nextPageToken}. */
export const listLinks = (me, kind, pageToken, signal) =>
  request('GET', `/v1/users/${me}/${kind}`, { query: { pageSize: 30, pageToken }, signal });
