export { createNotificationService, notificationService, type NotificationOptions } from './main';
export { notificationSettings, type NotificationConfig } from './config';
export { LANGUAGES, MESSAGE_KINDS, type Language, type MessageKind } from './domain/message-kinds';
export { renderMail } from './domain/templates';
export { PING_EVENT_TYPE, WEBHOOK_EVENT_TYPES, type WebhookEventType } from './domain/webhook-event';
