"""The names of the events the server emits (store writes queue them; `hub.server.notify`
processes them). Each is also a notification type: preferences are set per name."""

from __future__ import annotations

MODEL_VERSION_PUBLISHED = "model-version-published"  # a new model or version by a followed creator/model
REVIEW_RECEIVED = "review-received"  # a review of one of your models
COMMENT_RECEIVED = "comment-received"  # a comment on one of your models
ARTICLE_PUBLISHED = "article-published"  # an article by someone you follow
BUZZ_RECEIVED = "buzz-received"  # a tip to you
PURCHASE_DONE = "purchase-done"  # your purchase in the cosmetic shop went through
