//! What the repository ships besides the binaries: the SAM template (cfn-lint, `sam validate`,
//! and its agreement with the code's constants) and the deploy workflow. One test binary, one
//! module per topic.

mod aws_facts;
mod deploy_role;
mod docs_links;
mod layout;
mod own_api;
mod template;
mod workflow_lint;
