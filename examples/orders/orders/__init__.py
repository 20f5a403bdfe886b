"""An order service: charges a card (Stripe), stores a receipt (S3), summarises the order (OpenAI,
streamed), notifies Slack, and opens a GitHub issue when a payment fails.

Every API's base URL comes from the settings (environment variables, see `Settings.from_env`), so
the same code runs against the real APIs or against a mock server.
"""

from orders.service import Order, OrderResult, OrderService
from orders.settings import Settings

__all__ = ["Order", "OrderResult", "OrderService", "Settings"]
