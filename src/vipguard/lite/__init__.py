"""The lite tier's core: evidence, the decision, the VIP profile and head, enrolment, the Guard, explanations."""
