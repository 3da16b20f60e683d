pub struct LinkPurposeEnum {}

impl LinkPurposeEnum {
    pub const NAME: &str = "link__Purpose";
}

pub struct LinkImportScalar {}

impl LinkImportScalar {
    pub const NAME: &str = "link__Import";
}

pub struct JoinFieldSetScalar {}

impl JoinFieldSetScalar {
    pub const NAME: &str = "join__FieldSet";
}

pub struct JoinGraphEnum {}

impl JoinGraphEnum {
    pub const NAME: &str = "join__Graph";
}

pub struct CorePurposesEnum {}

impl CorePurposesEnum {
    pub const NAME: &str = "core__Purpose";
}

pub struct RequiresScopesScopeScalar {}

impl RequiresScopesScopeScalar {
    pub const NAME: &str = "requiresScopes__Scope";
}

pub struct PolicyPolicyScalar {}

impl PolicyPolicyScalar {
    pub const NAME: &str = "policy__Policy";
}

pub struct JoinDirectiveArgumentsScalar {}

impl JoinDirectiveArgumentsScalar {
    pub const NAME: &str = "join__DirectiveArguments";
}
