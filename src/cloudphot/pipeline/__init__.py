"""Pipeline steps as library functions; Lambda handlers and ECS entry points call these."""
