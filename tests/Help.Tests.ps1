# Checks the help (en-US/MailProtocols.dll-Help.xml, as Get-Help reads it from the BUILT module) of
# every cmdlet the module exports: a real synopsis and description, examples with code and remarks,
# and for every parameter a description and the same mandatory / pipeline / position / alias / type
# facts as the cmdlet itself.

BeforeDiscovery {
    # The cmdlets and their parameters must be known while Pester discovers the tests, so the module
    # is imported here too, found the same way tests/common.ps1 finds it.
    $modulePath = if ($env:MAILPROTOCOLS_MODULE) { $env:MAILPROTOCOLS_MODULE } else {
        Get-ChildItem (Join-Path $PSScriptRoot '../out/MailProtocols') -Filter MailProtocols.psd1 -Recurse -ErrorAction SilentlyContinue |
            Select-Object -First 1 -ExpandProperty FullName
    }
    if (-not $modulePath) {
        throw 'The built module was not found under out/MailProtocols: run ./build.ps1 -Task Build first.'
    }

    $module = Import-Module $modulePath -Force -PassThru
    $commonParameters = @(
        'Verbose', 'Debug', 'ErrorAction', 'WarningAction', 'InformationAction', 'ProgressAction',
        'ErrorVariable', 'WarningVariable', 'InformationVariable', 'OutVariable', 'OutBuffer', 'PipelineVariable'
    )

    $cmdletCases = foreach ($cmdlet in $module.ExportedCmdlets.Values | Sort-Object Name) {
        $parameters = @($cmdlet.Parameters.Keys | Where-Object { $_ -notin $commonParameters } | Sort-Object)
        @{
            Name             = $cmdlet.Name
            CommonParameters = $commonParameters
            ParameterCases   = @(foreach ($parameter in $parameters) { @{ Command = $cmdlet.Name; Parameter = $parameter } })
            SetCases         = @(foreach ($set in $cmdlet.ParameterSets) { @{ Command = $cmdlet.Name; Set = $set.Name } })
            HasTlsMode       = $cmdlet.Parameters.ContainsKey('TlsMode')
        }
    }

    # The cmdlets that connect to a server (Save-MailAttachment only reads files).
    $connectionCases = @($cmdletCases | Where-Object { $_.ParameterCases.Parameter -contains 'TlsMode' })

    if (-not $cmdletCases) {
        throw "The module at $modulePath exports no cmdlet."
    }
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')

    function Get-SyntaxSignature {
        # A parameter list as "Name=required" pairs in name order, for a syntax item of the help
        # (MAML's command:syntaxItem, which Get-Help prints under SYNTAX) or a parameter set of the
        # cmdlet: its parameters without the common ones and those hidden with DontShow, as
        # PowerShell's own syntax leaves them out.
        param([Parameter(ParameterSetName = 'Help')] $SyntaxItem, [Parameter(ParameterSetName = 'Set')] $ParameterSet)
        $pairs = if ($SyntaxItem) {
            foreach ($parameter in @($SyntaxItem.parameter)) { "$($parameter.name)=$("$($parameter.required)".ToLowerInvariant())" }
        }
        else {
            foreach ($parameter in $ParameterSet.Parameters) {
                $hidden = $parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] -and $_.DontShow }
                if ($parameter.Name -notin [System.Management.Automation.Cmdlet]::CommonParameters -and -not $hidden) {
                    "$($parameter.Name)=$("$($parameter.IsMandatory)".ToLowerInvariant())"
                }
            }
        }
        (@($pairs) | Sort-Object) -join ' '
    }

    function Get-HelpText {
        # The text of a MAML description or remarks as Get-Help returns it (objects with a Text property).
        param($Value)
        (@($Value | ForEach-Object { if ($_ -is [string]) { $_ } else { $_.Text } }) -join "`n").Trim()
    }
}

Describe 'Help of <Name>' -ForEach $cmdletCases {
    BeforeAll {
        $cmdletInfo = Get-Command -Name $Name -CommandType Cmdlet
        $help = Get-Help -Name $Name -Full
        $helpParameters = @($help.parameters.parameter)
    }

    It 'has a synopsis written for it (not the syntax Get-Help makes up when no help exists)' {
        $synopsis = "$($help.Synopsis)".Trim()
        $synopsis | Should -Not -BeNullOrEmpty
        $synopsis | Should -Not -Match "^$([regex]::Escape($Name))(\s+[\[-]|\s*$)"
        $synopsis | Should -Not -Match '<CommonParameters>|\{\{.*\}\}'
    }

    It 'has a description' {
        $description = Get-HelpText $help.description
        $description | Should -Not -BeNullOrEmpty
        $description | Should -Not -Match '\{\{.*\}\}'
    }

    It 'has at least 3 examples, each with a title, code and remarks' {
        $examples = @($help.examples.example)
        $examples.Count | Should -BeGreaterOrEqual 3
        $i = 0
        foreach ($example in $examples) {
            $i++
            "$($example.title)".Trim('- ') | Should -Not -BeNullOrEmpty -Because "example $i needs a title"
            "$($example.code)".Trim() | Should -Not -BeNullOrEmpty -Because "example $i ($($example.title.Trim('- '))) needs code"
            Get-HelpText $example.remarks | Should -Not -BeNullOrEmpty -Because "example $i ($($example.title.Trim('- '))) needs remarks"
        }
    }

    It "names the Exchange Online permission of its own protocol" {
        # A POP3 cmdlet's app-only text once told the reader to grant SMTP.SendAsApp and to name the mailbox with -From.
        $text = ($help | Out-String -Width 4000) + (@($helpParameters | ForEach-Object { Get-HelpText $_.description }) -join "`n")
        $other = if ($Name -like '*Pop3*') { 'SMTP.SendAsApp' } else { 'POP.AccessAsApp' }
        $text | Should -Not -Match ([regex]::Escape($other))
    }

    It 'has exactly as many syntax items as parameter sets' {
        @($help.syntax.syntaxItem).Count | Should -Be @($cmdletInfo.ParameterSets).Count -Because (
            "each parameter set ($($cmdletInfo.ParameterSets.Name -join ', ')) is one way to call the cmdlet that Get-Help must show")
    }

    Context 'parameter set <Set>' -ForEach $SetCases {
        It 'has a syntax item with exactly its parameters, mandatory where they are' {
            $expected = Get-SyntaxSignature -ParameterSet ($cmdletInfo.ParameterSets | Where-Object Name -EQ $Set)
            $items = @($help.syntax.syntaxItem | ForEach-Object { Get-SyntaxSignature -SyntaxItem $_ })
            $expected | Should -BeIn $items -Because "Get-Help $Command must show how to call it with the parameter set $Set"
        }
    }

    It 'documents no parameter that the cmdlet does not have' {
        $real = @($cmdletInfo.Parameters.Keys)
        $unknown = @($helpParameters.name | Where-Object { $_ -notin $real })
        $unknown | Should -BeNullOrEmpty
    }

    Context 'parameter -<Parameter>' -ForEach $ParameterCases {
        BeforeAll {
            $metadata = $cmdletInfo.Parameters[$Parameter]
            $attributes = @($metadata.ParameterSets.Values)
            $helpParameter = $helpParameters | Where-Object name -EQ $Parameter
        }

        It 'is documented, with a description' {
            $helpParameter | Should -Not -BeNullOrEmpty -Because "Get-Help $Command -Parameter $Parameter must find it"
            Get-HelpText $helpParameter.description | Should -Not -BeNullOrEmpty
        }

        It 'is documented as mandatory exactly when it is mandatory' {
            # Mandatory in any parameter set it belongs to: e.g. -AccessToken, mandatory in its one set.
            $mandatory = $attributes.IsMandatory -contains $true
            $helpParameter | Should -Not -BeNullOrEmpty
            "$($helpParameter.required)" | Should -Be "$mandatory".ToLowerInvariant()
        }

        It 'is documented as taking pipeline input exactly as it does' {
            $byValue = $attributes.ValueFromPipeline -contains $true
            $byPropertyName = $attributes.ValueFromPipelineByPropertyName -contains $true
            $helpParameter | Should -Not -BeNullOrEmpty
            $pipelineInput = "$($helpParameter.pipelineInput)"
            if ($byValue -or $byPropertyName) {
                $pipelineInput | Should -Match '^True\b'
                $pipelineInput -match '\bByValue\b' | Should -Be $byValue -Because "pipelineInput is '$pipelineInput'"
                $pipelineInput -match '\bByPropertyName\b' | Should -Be $byPropertyName -Because "pipelineInput is '$pipelineInput'"
            }
            else {
                $pipelineInput | Should -Match '^False'
            }
        }

        It 'is documented with its position' {
            $positions = @($attributes.Position | Sort-Object -Unique |
                    ForEach-Object { if ($_ -eq [int]::MinValue) { 'named' } else { "$_" } })
            $helpParameter | Should -Not -BeNullOrEmpty
            "$($helpParameter.position)" | Should -BeIn $positions
        }

        It 'is documented with its aliases and type' {
            $helpParameter | Should -Not -BeNullOrEmpty
            $helpAliases = @("$($helpParameter.aliases)" -split '\s*,\s*' | Where-Object { $_ -and $_ -ne 'none' } | Sort-Object)
            $helpAliases -join ', ' | Should -Be (@($metadata.Aliases | Sort-Object) -join ', ')
            "$($helpParameter.type.name)" | Should -Be $metadata.ParameterType.FullName
        }
    }
}

Describe 'about_MailProtocols' {
    # The conceptual topic (en-US/about_MailProtocols.help.txt), as Get-Help finds it next to the
    # BUILT module: build.ps1 copies en-US/ into the module folder.
    BeforeAll {
        $topic = Get-Help -Name about_MailProtocols
        $text = (@($topic) -join "`n") -replace "`r", ''
        $lines = @($text -split "`n")

        # The topic's top-level sections: lines in capitals at column 0.
        $headings = @($lines | Where-Object { $_ -cmatch '^[A-Z][A-Z0-9 ,:()/-]*$' })

        # Every ErrorId the source can raise, found where the code states it:
        #  - the first argument of MailOperationException (new MailOperationException("Id", ...),
        #    the target-typed new("Id", ...)) and of ConnectErrors' Fail("Id", ...), all followed
        #    by a MailErrorKind;
        #  - the ErrorId of an ErrorRecord made in a cmdlet, followed by its ErrorCategory;
        #  - the ids passed on through a helper (MessageComposer's RejectControlCharacters, the
        #    cmdlets' NotDoneError) or
        #    chosen in a conditional (SmtpSender's ("SenderRejected", ...) : ("MessageRejected", ...)).
        $idPatterns = @(
            '"(?<id>[A-Z][A-Za-z0-9]+)"\s*,\s*(?:MailErrorKind|ErrorCategory)\.'
            'RejectControlCharacters\([^,]+,\s*"(?<id>[A-Z][A-Za-z0-9]+)"'
            'NotDoneError\(\s*"(?<id>[A-Z][A-Za-z0-9]+)"'
            '[?:]\s*\(\s*"(?<id>[A-Z][A-Za-z0-9]+)"\s*,'
        )
        $sourceFiles = Get-ChildItem (Join-Path $PSScriptRoot '../src') -Filter *.cs -Recurse |
            Where-Object FullName -NotMatch '[\\/](bin|obj)[\\/]'
        $sourceErrorIds = @(foreach ($file in $sourceFiles) {
                $code = Get-Content -LiteralPath $file.FullName -Raw
                foreach ($pattern in $idPatterns) {
                    [regex]::Matches($code, $pattern) | ForEach-Object { $_.Groups['id'].Value }
                }
            }) | Sort-Object -Unique

        # The ErrorIds the topic names: the entries of its ErrorId list (under TROUBLESHOOTING
        # NOTE, one identifier alone on a line indented by 4), and every CamelCase word of the text
        # that is not a name the module or PowerShell already gives it (a parameter, a parameter
        # type or set, an enum value, an output type or its property, an ErrorRecord property) or
        # one of a few words of the prose. A word after - $ . \ / @ [ or before ( is a parameter,
        # variable, member, namespace or path and is skipped.
        $note = ($text -split '(?m)^TROUBLESHOOTING NOTE\s*$', 2)[1]
        $note = ($note -split '(?m)^SEE ALSO\s*$', 2)[0]
        $listedErrorIds = @([regex]::Matches($note, '(?m)^    (?<id>[A-Za-z0-9]+)[ \t]*$') | ForEach-Object { $_.Groups['id'].Value })

        $vocabulary = [Collections.Generic.HashSet[string]]::new([StringComparer]::Ordinal)
        foreach ($word in 'ConfirmImpact', 'ErrorId', 'ErrorIds', 'FileInfo', 'MailKit', 'MimeKit', 'PowerShell', 'SecretManagement') {
            $null = $vocabulary.Add($word)
        }
        $moduleCommands = @(Get-Command -Module MailProtocols)
        foreach ($command in $moduleCommands) {
            $null = $vocabulary.Add($command.ModuleName)
            foreach ($set in $command.ParameterSets) { $null = $vocabulary.Add($set.Name) }
            foreach ($parameter in $command.Parameters.Values) {
                $null = $vocabulary.Add($parameter.Name)
                $type = $parameter.ParameterType
                $null = $vocabulary.Add($type.Name)
                if ($type.IsEnum) { foreach ($name in [enum]::GetNames($type)) { $null = $vocabulary.Add($name) } }
            }
            foreach ($type in @($command.OutputType.Name) -like 'MailProtocols.*' | ForEach-Object { Get-EngineType $_ }) {
                $null = $vocabulary.Add($type.Name)
                foreach ($property in $type.GetProperties()) { $null = $vocabulary.Add($property.Name) }
            }
        }
        $null = $vocabulary.Add('ErrorRecord')
        foreach ($property in [System.Management.Automation.ErrorRecord].GetProperties()) { $null = $vocabulary.Add($property.Name) }

        $camelCase = '(?<![-$\\/@\[.\w])(?<id>[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]+)+)(?![\w(]|[.:-]\w)'
        $proseErrorIds = @([regex]::Matches($text, $camelCase) | ForEach-Object { $_.Groups['id'].Value } |
                Where-Object { -not $vocabulary.Contains($_) } | Sort-Object -Unique)
        $namedErrorIds = @($listedErrorIds + $proseErrorIds | Sort-Object -Unique)
    }

    It 'is found by Get-Help once the module is imported' {
        $topic | Should -Not -BeNullOrEmpty
        $text | Should -Match '^TOPIC\n\s+about_MailProtocols\s*\n'
    }

    It 'has the sections of an about topic, in order' {
        $required = 'TOPIC', 'SHORT DESCRIPTION', 'LONG DESCRIPTION', 'EXAMPLES', 'NOTE', 'TROUBLESHOOTING NOTE', 'SEE ALSO', 'KEYWORDS'
        $positions = foreach ($section in $required) {
            $at = [array]::IndexOf($headings, $section)
            $at | Should -BeGreaterOrEqual 0 -Because "the topic needs a '$section' section"
            $at
        }
        ($positions -join ',') | Should -Be (($positions | Sort-Object) -join ',') -Because 'the sections must come in the usual order'
        $subjects = [array]::IndexOf($headings, 'EXAMPLES') - [array]::IndexOf($headings, 'LONG DESCRIPTION') - 1
        $subjects | Should -BeGreaterOrEqual 8 -Because 'the subjects are sections of their own between LONG DESCRIPTION and EXAMPLES'
    }

    It 'covers <Subject>' -ForEach @(
        @{ Subject = 'SMTP (push) and POP3 (pull), their ports, and when mail leaves the server'; Keywords = @('push', 'pull', '25', '587', '465', '110', '995', 'STARTTLS', 'STLS', 'DELE', 'QUIT', 'UID') }
        @{ Subject = 'TLS modes, certificate checks and credentials over plain text'; Keywords = @('-TlsMode', 'Auto', 'None', 'StartTls', 'Implicit', '-UseSsl', '-CheckCertificateRevocation', '-SkipCertificateCheck', 'private', '-AllowUnencryptedAuthentication') }
        @{ Subject = 'storing credentials for scheduled tasks'; Keywords = @('Export-Clixml', 'Import-Clixml', 'DPAPI', 'Linux', 'macOS', 'chmod 600', 'SecretManagement') }
        @{ Subject = 'OAuth2 access tokens for Microsoft 365 and Gmail'; Keywords = @('XOAUTH2', '-AccessToken', 'SecureString', '-UserName', '-From', 'MSAL', 'expire', 'basic', 'smtp.office365.com', 'outlook.office365.com', 'smtp.gmail.com', 'pop.gmail.com') }
        @{ Subject = 'migrating from Send-MailMessage'; Keywords = @('Send-MailMessage', 'rename', '$PSEmailServer', 'ErrorRecord', '-MaximumRetryCount', 'DeliveryUnknown') }
        @{ Subject = 'the pipeline rules'; Keywords = @('Import-Csv', 'Get-ChildItem', 'one connection', 'MixedPipelineInput', 'Get-Pop3Message | Remove-Pop3Message') }
        @{ Subject = 'unattended use'; Keywords = @('-NonInteractive', '-File', '-ErrorAction Stop', 'try/catch', 'exit 1', '$ErrorActionPreference', 'ConfirmImpact', 'High', '-Force', '-Confirm:$false') }
        @{ Subject = 'troubleshooting'; Keywords = @('-TranscriptPath', '-Verbose', 'asterisks', 'CertificateRejected', 'StartTlsFailed', 'UnencryptedAuthenticationRefused', 'AuthenticationFailed', 'MailboxLocked', 'TopNotSupported', 'UidlNotSupported', 'DeliveryUnknown', 'Timeout') }
    ) {
        $missing = @($Keywords | Where-Object {
                # A keyword counts as a whole word (so '25' is not found in '250').
                $text -notmatch ('(?<![\w-])' + [regex]::Escape($_) + '(?!\w)')
            })
        $missing | Should -BeNullOrEmpty -Because "the topic must cover $Subject"
    }

    It 'has no line longer than 80 characters' {
        $long = @(for ($i = 0; $i -lt $lines.Count; $i++) {
                if ($lines[$i].Length -gt 80) { "line $($i + 1) ($($lines[$i].Length) characters): $($lines[$i])" }
            })
        $long | Should -BeNullOrEmpty
    }

    It 'is plain ASCII, without tabs' {
        $bad = @(for ($i = 0; $i -lt $lines.Count; $i++) {
                if ($lines[$i] -match '[^\x20-\x7E]') { "line $($i + 1): $($lines[$i])" }
            })
        $bad | Should -BeNullOrEmpty
    }

    It 'finds the ErrorIds of the source (the check below is not vacuous)' {
        $sourceErrorIds.Count | Should -BeGreaterThan 30
        foreach ($id in 'CertificateRejected', 'StartTlsFailed', 'DeliveryUnknown', 'Timeout', 'TopNotSupported', 'SenderRejected', 'InvalidSubject', 'UserNameRequired') {
            $sourceErrorIds | Should -Contain $id
        }
        $listedErrorIds.Count | Should -BeGreaterOrEqual 9 -Because 'TROUBLESHOOTING NOTE lists the most common ErrorIds'
    }

    It 'names only ErrorIds that exist in the source' {
        $unknown = @($namedErrorIds | Where-Object { $_ -cnotin $sourceErrorIds })
        $unknown | Should -BeNullOrEmpty -Because ('every ErrorId the topic names must be one that src/ raises ' +
            '(a CamelCase word that is not meant as an ErrorId belongs in the vocabulary of this test)')
    }
}

Describe 'Discoverability of <Name>' -ForEach $cmdletCases {
    It 'declares its output type, and the module has a format view for it' {
        $command = Get-Command $Name
        $command.OutputType.Name | Should -Not -BeNullOrEmpty
        foreach ($type in $command.OutputType.Name) {
            Get-FormatData -TypeName $type | Should -Not -BeNullOrEmpty -Because "$type needs a default view"
            $real = if ($type -like 'MailProtocols.*') { Get-EngineType $type } else { $type -as [type] }
            $real | Should -Not -BeNullOrEmpty -Because "$type must be a real type"
        }
    }
}

Describe 'Completion of -TlsMode of <Name>' -ForEach $connectionCases {
    It 'completes the values of -TlsMode' {
        $line = "$Name -TlsMode "
        $completions = (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText
        $completions | Sort-Object | Should -Be @('Auto', 'Implicit', 'None', 'StartTls')
    }
}

Describe 'Argument completion of Send-SmtpMessage' {
    It 'completes <Parameter> values' -ForEach @(
        @{ Parameter = 'Encoding'; Prefix = 'utf'; Expected = @('utf8', 'utf8NoBOM', 'utf8BOM', 'utf32', 'utf7') }
        @{ Parameter = 'Priority'; Prefix = ''; Expected = @('Normal', 'Low', 'High') }
        @{ Parameter = 'DeliveryNotificationOption'; Prefix = 'On'; Expected = @('OnSuccess', 'OnFailure') }
    ) {
        $line = "Send-SmtpMessage -$Parameter $Prefix"
        $completions = (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText
        $completions | Sort-Object | Should -Be ($Expected | Sort-Object)
    }
}
