"""Use cases of the channels service: one function per command or event, each taking a ChannelsUnitOfWork.

- `gate.decide_requests`: the dispatch gate (`message.requested` batches);
- `delivery`: what a delivery worker does around its adapter calls (lease, re-check, record);
- `contact_facts`: the copy of contact facts (`contact.*` events) and locally learned suppressions;
- `provider_events`: bounces, complaints, SMS receipts and STOP from provider webhooks;
- `call_center`: agents' tasks, web offers and the expiry of unclaimed tasks;
- `policy`: the rules, dry runs and the decision and delivery records behind the HTTP API.

Views (api.py, agents.py, webhooks.py), consumers (consumers.py) and the delivery worker
(delivery.py) call these; these call the pure `domain` and the repositories.
"""
