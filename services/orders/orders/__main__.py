"""Run the orders service: `python -m orders` serves it, `python -m orders migrate` only migrates its database,
`python -m orders send-messages` only sends the customer messages (beside orders run with MESSAGE_SENDER=separate)."""

from dropship_shared.service_main import Worker, run_service
from orders.bootstrap import MIGRATIONS, create_app, create_sender_app
from orders.config import OrdersSettings

run_service(
    "orders",
    OrdersSettings(),
    create_app,
    MIGRATIONS,
    workers={
        "send-messages": Worker[OrdersSettings](
            "only the customer messages, for orders processes run with MESSAGE_SENDER=separate", create_sender_app
        )
    },
)
