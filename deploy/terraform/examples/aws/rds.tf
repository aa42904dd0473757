# Managed PostgreSQL for ndf's shared store: private, encrypted, TLS only, backed up, protected
# from deletion, a final snapshot on destroy.

resource "aws_db_subnet_group" "ndf" {
  name       = "${var.name}-db"
  subnet_ids = var.db_subnet_ids
}

resource "aws_security_group" "db" {
  name        = "${var.name}-db"
  description = "PostgreSQL of ${var.name}: only from the cluster's security groups"
  vpc_id      = var.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "db" {
  for_each = toset(var.db_client_security_group_ids)

  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from ${each.value}"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

# The parameter group refuses connections without TLS and logs what an audit needs.
resource "aws_db_parameter_group" "ndf" {
  name   = "${var.name}-postgres${split(".", var.db_engine_version)[0]}"
  family = "postgres${split(".", var.db_engine_version)[0]}"

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_connections"
    value = "1"
  }

  parameter {
    name  = "log_disconnections"
    value = "1"
  }

  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
}

# The password lives in the state (Terraform 1.0 has no write-only arguments): keep the state
# in an encrypted backend with restricted access. A copy is in Secrets Manager for operators.
resource "random_password" "db" {
  length  = 40
  special = false
}

resource "aws_secretsmanager_secret" "db" {
  name        = "${var.name}/postgres"
  description = "PostgreSQL credentials of ${var.name}"
  kms_key_id  = aws_kms_key.ndf.arn
  #checkov:skip=CKV2_AWS_57:Rotation would change the password behind the Kubernetes Secret ndf reads its URL from; rotate by changing random_password and applying (README: rotating the database password).
}

resource "aws_secretsmanager_secret_version" "db" {
  secret_id = aws_secretsmanager_secret.db.id
  secret_string = jsonencode({
    username = aws_db_instance.ndf.username
    password = random_password.db.result
    host     = aws_db_instance.ndf.address
    port     = aws_db_instance.ndf.port
    dbname   = aws_db_instance.ndf.db_name
  })
}

resource "aws_db_instance" "ndf" {
  identifier     = var.name
  engine         = "postgres"
  engine_version = var.db_engine_version
  instance_class = var.db_instance_class
  db_name        = "ndf"
  username       = "ndf"
  password       = random_password.db.result
  port           = 5432

  allocated_storage     = var.db_allocated_storage_gb
  max_allocated_storage = var.db_max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.ndf.arn

  db_subnet_group_name   = aws_db_subnet_group.ndf.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  multi_az               = var.db_multi_az
  parameter_group_name   = aws_db_parameter_group.ndf.name
  ca_cert_identifier     = "rds-ca-rsa2048-g1"

  # IAM database authentication is on for people (psql with a token); ndf itself connects
  # with the password in its URL: it has no IAM token support.
  iam_database_authentication_enabled = true

  backup_retention_period   = var.db_backup_retention_days
  backup_window             = "02:00-03:00"
  maintenance_window        = "sun:03:30-sun:04:30"
  copy_tags_to_snapshot     = true
  delete_automated_backups  = false
  deletion_protection       = var.db_deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name}-final"

  auto_minor_version_upgrade      = true
  enabled_cloudwatch_logs_exports = ["postgresql", "upgrade"]
  monitoring_interval             = 60
  monitoring_role_arn             = aws_iam_role.rds_monitoring.arn

  performance_insights_enabled          = var.db_performance_insights
  performance_insights_kms_key_id       = var.db_performance_insights ? aws_kms_key.ndf.arn : null
  performance_insights_retention_period = var.db_performance_insights ? 7 : null
}

# Enhanced monitoring (OS metrics every minute).
data "aws_iam_policy_document" "rds_monitoring_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["monitoring.rds.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "rds_monitoring" {
  name               = "${var.name}-rds-monitoring"
  assume_role_policy = data.aws_iam_policy_document.rds_monitoring_assume.json
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}
