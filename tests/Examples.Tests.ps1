# Every example of the docs runs against the mock, as a user runs it: the code of each example of
# en-US/MailProtocols.dll-Help.xml, each ```powershell block of README.md and each example of the
# EXAMPLES section of en-US/about_MailProtocols.help.txt, read from the files at test time, is
# written to a .ps1 and run in a child `pwsh -NoProfile -NonInteractive -File` (no preference
# variable set), with only the server details changed: host names become localhost, ports the
# mock's. A prelude before the example text stands in for the user's machine (drives C: and D:,
# $HOME, credentials, tokens). Each example has its own case below, which names the sample
# output lines to drop from the code and asserts what the example promises.

BeforeDiscovery {
    $root = Split-Path $PSScriptRoot

    function Get-HelpExample {
        # The examples of each cmdlet in the MAML help, in order.
        param([string] $Path)
        $xml = [xml](Get-Content -LiteralPath $Path -Raw)
        foreach ($command in $xml.helpItems.command) {
            $index = 0
            foreach ($example in $command.examples.example) {
                $index++
                [pscustomobject]@{
                    Source = $command.details.name.Trim()
                    Index  = $index
                    Title  = $example.title.Trim(' -') -replace '^Example \d+:\s*'
                    Code   = $example.code
                }
            }
        }
    }

    function Get-ReadmeExample {
        # Each ```powershell block, indented or not. Its title is the heading it is under, with
        # its number there when that heading has more than one block.
        param([string] $Path)
        $text = (Get-Content -LiteralPath $Path -Raw) -replace "`r`n", "`n"
        $index = 0
        $blocks = [regex]::Matches($text, '(?ms)^(?<indent>[ ]*)```powershell\n(?<code>.*?)^\k<indent>```[ ]*$')
        $headings = @(foreach ($block in $blocks) {
            $before = [regex]::Matches($text.Substring(0, $block.Index), '(?m)^#+[ ]+(.+)$')
            if ($before.Count) { $before[$before.Count - 1].Groups[1].Value.Trim() } else { '' }
        })
        foreach ($match in $blocks) {
            $index++
            $heading = $headings[$index - 1]
            $under = @($headings[0..($index - 1)] -eq $heading).Count
            $title = if (@($headings -eq $heading).Count -gt 1) { "$heading, block $under" } else { $heading }
            $indent = $match.Groups['indent'].Value.Length
            $lines = @(foreach ($line in $match.Groups['code'].Value.TrimEnd("`n") -split "`n") {
                if ($line.Length -ge $indent -and $line.Substring(0, $indent).Trim() -eq '') { $line.Substring($indent) }
                elseif ($line.Trim() -eq '') { '' }
                else { throw "README.md block ${index}: the line '$line' is indented less than its fence." }
            })
            [pscustomobject]@{ Source = 'README'; Index = $index; Title = $title; Code = $lines -join "`n" }
        }
    }

    function Get-AboutExample {
        # The EXAMPLES section: "    Example N: title" heads an example, lines indented by 8 are
        # its code, lines indented by 4 its explanation. Any other indent is an error rather than
        # a guess.
        param([string] $Path)
        $lines = (Get-Content -LiteralPath $Path -Raw) -replace "`r`n", "`n" -split "`n"
        $start = [array]::IndexOf($lines, 'EXAMPLES')
        if ($start -lt 0) { throw "$Path has no EXAMPLES section." }
        $examples = [System.Collections.Generic.List[object]]::new()
        $current = $null
        foreach ($line in $lines[($start + 1)..($lines.Count - 1)]) {
            if ($line -match '^\S') { break }
            if ($line -match '^    Example (\d+):\s*(.+)$') {
                $current = [pscustomobject]@{ Source = 'about_MailProtocols'; Index = [int]$Matches[1]; Title = $Matches[2].Trim(); Lines = [System.Collections.Generic.List[string]]::new() }
                $examples.Add($current)
            }
            elseif ($line.Trim() -eq '') { if ($current -and $current.Lines.Count) { $current.Lines.Add('') } }
            elseif ($line -match '^        ') {
                if (-not $current) { throw "about_MailProtocols EXAMPLES: code before the first 'Example N:' line: '$line'." }
                $current.Lines.Add($line.Substring(8))
            }
            elseif ($line -notmatch '^    \S') { throw "about_MailProtocols EXAMPLES: unexpected indent in '$line'." }
        }
        $position = 0
        foreach ($example in $examples) {
            $position++
            if ($example.Index -ne $position) { throw "about_MailProtocols: Example $($example.Index) is example number $position." }
            [pscustomobject]@{ Source = $example.Source; Index = $example.Index; Title = $example.Title; Code = ($example.Lines -join "`n").Trim("`n") }
        }
    }

    $examples = @(
        Get-HelpExample (Join-Path $root 'en-US/MailProtocols.dll-Help.xml')
        Get-ReadmeExample (Join-Path $root 'README.md')
        Get-AboutExample (Join-Path $root 'en-US/about_MailProtocols.help.txt')
    )

    # How many examples each source holds today: an example added later fails here until it has a case.
    $expectedCounts = [ordered]@{
        'Send-SmtpMessage'    = 10
        'Get-Pop3Message'     = 6
        'Remove-Pop3Message'  = 6
        'Test-SmtpConnection' = 4
        'Import-MailMessage'  = 4
        'Test-Pop3Connection' = 3
        'Save-MailAttachment' = 3
        'README'              = 7
        'about_MailProtocols' = 6
    }

    # One entry per example (some have a second run, a Variant, for the failure path their text
    # promises). Keys:
    #   Source, Index, Title  which example (the title must still be the one at that index)
    #   Drop                  regexes, each matching whole lines of sample output to drop from the
    #                         code; each must match at least one line
    #   Sample                regexes that both the dropped sample output and the child's real
    #                         output must match, so that the sample shows what the module prints
    #   Prelude               extra prelude lines for this example only
    #   ImportsModule         the example imports the module itself: the prelude does not
    #   Setup { param($Mock, $Dir) }        mailbox content, files, server behaviour before the run
    #   ExitCode, Errors      the exit code; a regex that the errors printed must match, with the
    #                         error view's line wrapping undone (none: nothing on stderr)
    #   Warnings              a regex every WARNING line must match (none: no warning)
    #   Assert { param($Mock, $Run, $Dir) } what the example promises, from the mock's records and the files
    $cases = @(
        # ---------------------------------------------------------------- Send-SmtpMessage
        @{
            Source = 'Send-SmtpMessage'; Index = 1; Title = 'Migrate a Send-MailMessage command'
            # Send-MailMessage says it is obsolete; that is the point of the example.
            Warnings = 'The command ''Send-MailMessage'' is obsolete'
            Assert = {
                param($Mock, $Run, $Dir)
                $Mock.Messages.Count | Should -Be 2 -Because 'the old and the new command each send the message'
                foreach ($m in $Mock.Messages) {
                    $m.MailFrom | Should -Be 'ops@contoso.com'
                    $m.AcceptedRecipients | Should -Be @('admin@contoso.com')
                    Get-MimeHeader $m.DataText 'Subject' | Should -Be 'Disk full'
                    $m.Tls | Should -BeTrue
                    $m.AuthUser | Should -Be 'monitoring'
                }
            }
        }
        @{
            Source = 'Send-SmtpMessage'; Index = 2; Title = 'Send an alert from a Windows scheduled task with a stored credential'
            Prelude = @'
# Stand-in for Get-PSDrive: drive C: here is a test folder, not a disk that is nearly full.
# This one is 5% free, so that the example's alert path runs.
function Get-PSDrive { param([string] $Name) [pscustomobject]@{ Name = $Name; Used = 95GB; Free = 5GB } }
'@
            Setup = { param($Mock, $Dir) $null = New-Item -ItemType Directory (Join-Path $Dir.C 'Scripts') }
            Assert = {
                param($Mock, $Run, $Dir)
                $Run.Output | Should -BeNullOrEmpty -Because 'the result is sent to Out-Null'
                Join-Path $Dir.C 'Scripts/smtp-credential.xml' | Should -Exist
                $Mock.Messages.Count | Should -Be 1
                $m = $Mock.Messages[0]
                $m.MailFrom | Should -Be 'alerts@contoso.com'
                $m.AcceptedRecipients | Should -Be @('ops@contoso.com')
                $m.AuthUser | Should -Be 'alerts@contoso.com'
                $m.Tls | Should -BeTrue
                $from = (ConvertFrom-RawMessage $m.Data).From.Mailboxes
                $from.Name | Should -Be 'Server alerts'
                $from.Address | Should -Be 'alerts@contoso.com'
                Get-MimeHeader $m.DataText 'Subject' | Should -Be 'SRV01: only 5% free on C:'
                Get-MimeHeader $m.DataText 'X-Priority' | Should -Match '^1\b'
                (ConvertFrom-RawMessage $m.Data).TextBody | Should -Match 'Drive C: of SRV01 has 5% free space left\.'
            }
        }
        @{
            Source = 'Send-SmtpMessage'; Index = 2; Title = 'Send an alert from a Windows scheduled task with a stored credential'
            Variant = 'the server refuses the login'
            Prelude = @'
# Stand-in for Get-PSDrive: drive C: here is a test folder, not a disk that is nearly full.
# This one is 5% free, so that the example's alert path runs.
function Get-PSDrive { param([string] $Name) [pscustomobject]@{ Name = $Name; Used = 95GB; Free = 5GB } }
'@
            Setup = {
                param($Mock, $Dir)
                $null = New-Item -ItemType Directory (Join-Path $Dir.C 'Scripts')
                $null = $Mock.ReplyTo('AUTH', '535 5.7.8 Authentication credentials invalid')
            }
            # The remarks: -ErrorAction Stop ends the script and pwsh -File exits with 1.
            ExitCode = 1; Errors = "refused the credentials of 'alerts@contoso\.com': 535"
            Assert = { param($Mock, $Run, $Dir) $Mock.Messages.Count | Should -Be 0 }
        }
        @{
            Source = 'Send-SmtpMessage'; Index = 3; Title = 'Send one message per CSV row over one connection, and handle the errors'
            Setup = {
                param($Mock, $Dir)
                @(
                    [pscustomobject]@{ To = 'ops@contoso.com'; Subject = 'Disk C: low on SRV01'; Body = 'C: is at 93%' }
                    [pscustomobject]@{ To = 'dba@contoso.com'; Subject = 'Backup late on SQL02'; Body = 'The full backup has not finished.' }
                    [pscustomobject]@{ To = 'ops@contoso.com'; Subject = 'Service stopped on WEB03'; Body = 'W3SVC is stopped.' }
                ) | Export-Csv -Path (Join-Path $Dir.Work 'alerts.csv')
            }
            Assert = {
                param($Mock, $Run, $Dir)
                $Mock.Messages.Count | Should -Be 3
                @($Mock.Messages | ForEach-Object { Get-MimeHeader $_.DataText 'Subject' }) | Should -Be @('Disk C: low on SRV01', 'Backup late on SQL02', 'Service stopped on WEB03')
                @($Mock.Messages.AcceptedRecipients) | Should -Be @('ops@contoso.com', 'dba@contoso.com', 'ops@contoso.com')
                $Mock.Messages.MailFrom | Should -Be (@('monitor@contoso.com') * 3)
                $Mock.SmtpSessions.Count | Should -Be 1 -Because 'every row goes over one connection'
                $Mock.SmtpSessions[0].AuthUser | Should -Be 'monitoring'
                $Run.Output | Should -Match '(?m)^Subject\s+Accepted\s+Attempts\s+Elapsed'
                $Run.Output | Should -Match 'Backup late on SQL02'
            }
        }
        @{
            Source = 'Send-SmtpMessage'; Index = 3; Title = 'Send one message per CSV row over one connection, and handle the errors'
            Variant = 'the server refuses one recipient'
            Setup = {
                param($Mock, $Dir)
                @(
                    [pscustomobject]@{ To = 'ops@contoso.com'; Subject = 'Disk C: low on SRV01'; Body = 'C: is at 93%' }
                    [pscustomobject]@{ To = 'former.dba@contoso.com'; Subject = 'Backup late on SQL02'; Body = 'The full backup has not finished.' }
                    [pscustomobject]@{ To = 'ops@contoso.com'; Subject = 'Service stopped on WEB03'; Body = 'W3SVC is stopped.' }
                ) | Export-Csv -Path (Join-Path $Dir.Work 'alerts.csv')
                $null = $Mock.ReplyTo('RCPT', 'former.dba@', '550 5.1.1 <former.dba@contoso.com> No such user')
            }
            # The errors are collected with -ErrorAction SilentlyContinue, printed by the
            # example's own loop, and make it exit with 1.
            ExitCode = 1
            Assert = {
                param($Mock, $Run, $Dir)
                $Mock.Messages.Count | Should -Be 2 -Because 'the rows after the refused one are still sent'
                @($Mock.Messages | ForEach-Object { Get-MimeHeader $_.DataText 'Subject' }) | Should -Be @('Disk C: low on SRV01', 'Service stopped on WEB03')
                $Run.Output | Should -Match '(?m)^AllRecipientsRejected former\.dba@contoso\.com: .*550 5\.1\.1'
            }
        }
        @{
            Source = 'Send-SmtpMessage'; Index = 4; Title = 'Send log files as the attachments of one message'
            Setup = {
                param($Mock, $Dir)
                $logs = New-Item -ItemType Directory (Join-Path $Dir.C 'Logs')
                Set-Content (Join-Path $logs 'app.log') 'app started'
                Set-Content (Join-Path $logs 'web.log') 'GET / 200'
                Set-Content (Join-Path $logs 'notes.txt') 'not a log'
                $old = New-Item (Join-Path $logs 'old.log') -Value 'last week'
                $old.LastWriteTime = (Get-Date).AddDays(-3)
            }
            Assert = {
                param($Mock, $Run, $Dir)
                $Mock.Messages.Count | Should -Be 1 -Because 'the files make one message'
                $m = ConvertFrom-RawMessage $Mock.Messages[0].Data
                $m.Subject | Should -Be 'Logs of the last 24 hours'
                @($m.Attachments.FileName | Sort-Object) | Should -Be @('app.log', 'web.log')
                $Mock.Messages[0].AcceptedRecipients | Should -Be @('ops@contoso.com')
            }
        }
        @{
            Source = 'Send-SmtpMessage'; Index = 5; Title = 'Send through Microsoft 365 with an OAuth2 access token'
            Assert = {
                param($Mock, $Run, $Dir)
                $Mock.Messages.Count | Should -Be 1
                $Mock.SmtpSessions[0].AuthMechanism | Should -Be 'XOAUTH2'
                $Mock.SmtpSessions[0].AuthUser | Should -Be 'reports@contoso.com' -Because 'the user name defaults to -From'
                $Mock.SmtpSessions[0].Tls | Should -BeTrue -Because 'STARTTLS comes before the token'
                $m = ConvertFrom-RawMessage $Mock.Messages[0].Data
                $m.HtmlBody | Should -Match '<h1>Weekly report</h1>'
                $Mock.Messages[0].AcceptedRecipients | Should -Be @('team@contoso.com')
            }
        }
        @{
            Source = 'Send-SmtpMessage'; Index = 6; Title = 'Troubleshoot a connection with a transcript and verbose messages'
            Assert = {
                param($Mock, $Run, $Dir)
                $Mock.Messages.Count | Should -Be 1
                $transcript = Get-Content (Join-Path $Dir.Work 'smtp-transcript.log') -Raw
                $transcript | Should -Match 'STARTTLS'
                $transcript | Should -Match 'AUTH'
                $Run.Output | Should -Match '(?m)^VERBOSE: .*localhost'
                $Run.Output | Should -Match 'STARTTLS' -Because 'Get-Content shows the transcript'
            }
        }
        @{
            Source = 'Send-SmtpMessage'; Index = 7; Title = 'Send an HTML message with a plain-text alternative and an inline image, after a dry run'
            Setup = { param($Mock, $Dir) [IO.File]::WriteAllBytes((Join-Path $Dir.Work 'chart.png'), $png) }
            Assert = {
                param($Mock, $Run, $Dir)
                $Run.Output | Should -Match '(?m)^What if: .*localhost'
                $Mock.SmtpSessions.Count | Should -Be 1 -Because '-WhatIf does not connect'
                $Mock.Messages.Count | Should -Be 1
                $m = ConvertFrom-RawMessage $Mock.Messages[0].Data
                $m.TextBody | Should -Match 'sales chart is in the HTML version'
                $m.HtmlBody | Should -Match 'cid:chart'
                $image = @($m.BodyParts | Where-Object ContentId -eq 'chart')
                $image.Count | Should -Be 1
                $image[0].ContentType.MimeType | Should -Be 'image/png'
                $m.Headers['X-Report'] | Should -Be 'monthly-sales'
            }
        }
        @{
            Source = 'Send-SmtpMessage'; Index = 8; Title = 'Send a mailing through Exchange Online within its limit of 30 messages a minute'
            Prelude = '{{AppSignIn}}'
            Setup = {
                param($Mock, $Dir)
                1..3 | ForEach-Object { [pscustomobject]@{ To = "reader$_@contoso.com"; Subject = "Newsletter $_"; Body = 'News.' } } |
                    Export-Csv -Path (Join-Path $Dir.Work 'newsletter.csv')
            }
            Assert = {
                param($Mock, $Run, $Dir)
                $Mock.Messages.Count | Should -Be 3
                @($Mock.Messages.AcceptedRecipients) | Should -Be @('reader1@contoso.com', 'reader2@contoso.com', 'reader3@contoso.com')
                $Mock.SmtpSessions.Count | Should -Be 1 -Because 'every row goes over one connection'
                $Mock.SmtpSessions[0].AuthMechanism | Should -Be 'XOAUTH2'
                $Mock.SmtpSessions[0].AuthUser | Should -Be 'reports@contoso.com'
                $requests = @($entra.Requests)
                $requests.Count | Should -BeGreaterOrEqual 1 -Because 'the app signs in itself, with a token MSAL can renew'
                $requests | ForEach-Object { $_.Error | Should -BeNullOrEmpty }
                $requests[0].Credential | Should -Be 'assertion'
                # About one message every 2 seconds: the total, with a margin for the jitter of
                # each MAIL after its turn.
                $times = @($Mock.SmtpSessions[0].CommandTimes | Select-Object -Index @(
                        for ($i = 0; $i -lt $Mock.SmtpSessions[0].Commands.Count; $i++) { if ($Mock.SmtpSessions[0].Commands[$i] -like 'MAIL FROM:*') { $i } }))
                ($times[2] - $times[0]).TotalSeconds | Should -BeGreaterOrEqual (2 * 2 - 0.1)
                $sent = @(Import-Csv -Path (Join-Path $Dir.Work 'sent.csv'))
                @($sent.Subject) | Should -Be @('Newsletter 1', 'Newsletter 2', 'Newsletter 3')
            }
        }
        @{
            Source = 'Send-SmtpMessage'; Index = 10; Title = 'Send from a Google Workspace mailbox with a service account key, set up step by step'
            Prelude = @'
# This computer has no account svc-reports: chown notes whom step 4 makes the key's owner.
function chown { Set-Content -LiteralPath chown.txt -Value ($args -join ' ') }
'@
            Setup = {
                param($Mock, $Dir)
                $secrets = New-Item -ItemType Directory (Join-Path $Dir.C 'Secrets')
                $json = $google.AddServiceAccount('mail-sender@contoso-mail.iam.gserviceaccount.com', [string[]]@('https://mail.google.com/'), [string[]]@('reports@contoso.com'))
                Set-Content -LiteralPath (Join-Path $secrets 'mail-sender.json') -Value $json -NoNewline
                $google.Reset()
            }
            Assert = {
                param($Mock, $Run, $Dir)
                $Mock.Messages.Count | Should -Be 1
                $Mock.Messages[0].AcceptedRecipients | Should -Be @('team@contoso.com')
                $Mock.SmtpSessions[0].AuthMechanism | Should -Be 'XOAUTH2'
                $Mock.SmtpSessions[0].AuthUser | Should -Be 'reports@contoso.com' -Because 'the service account acts as the -From mailbox'
                $Mock.SmtpSessions[0].Tls | Should -BeTrue -Because 'STARTTLS comes before the token'
                $requests = @($google.Requests)
                $requests.Count | Should -Be 1
                $requests[0].Error | Should -BeNullOrEmpty
                $requests[0].Subject | Should -Be 'reports@contoso.com'
                $requests[0].Scope | Should -Be 'https://mail.google.com/'
                [IO.File]::GetUnixFileMode((Join-Path $Dir.C 'Secrets/mail-sender.json')) | Should -Be ([IO.UnixFileMode]'UserRead, UserWrite') -Because 'step 4 leaves the key readable by its owner only'
                Get-Content -LiteralPath (Join-Path $Dir.Work 'chown.txt') | Should -Match '^svc-reports \S+mail-sender\.json$' -Because 'step 4 makes the task''s account the owner'
                Assert-NoSecret -Text $Run.Text -Secret $google.Secrets
            }
        }

        # ---------------------------------------------------------------- Get-Pop3Message
        @{
            Source = 'Send-SmtpMessage'; Index = 9; Title = 'Send from a scheduled task as an Entra app with a certificate (no password)'
            Prelude = '{{AppSignIn}}'
            Assert = {
                param($Mock, $Run, $Dir)
                $Mock.Messages.Count | Should -Be 1
                $Mock.SmtpSessions[0].AuthMechanism | Should -Be 'XOAUTH2'
                $Mock.SmtpSessions[0].AuthUser | Should -Be 'reports@contoso.com'
                $Mock.SmtpSessions[0].Tls | Should -BeTrue
                $requests = @($entra.Requests)
                $requests.Count | Should -Be 1
                $requests[0].Tenant | Should -Be 'contoso.onmicrosoft.com'
                $requests[0].Credential | Should -Be 'assertion'
                $requests[0].Error | Should -BeNullOrEmpty
            }
        }
        @{
            Source = 'Get-Pop3Message'; Index = 1; Title = 'List the inbox at the prompt'
            Drop = '^Uid\s+Date\s+Size\s+Subject\s+From\s*$', '^---\s+----\s+----\s+-------\s+----\s*$', '^e2a1c7f4-104[123]\s.*$'
            Sample = '(?m)^Uid\s+Date\s+Size\s+Subject\s+From\s*$'
            Setup = {
                param($Mock, $Dir)
                $null = $Mock.AddMessage('helpdesk@contoso.com', 'e2a1c7f4-1041', (New-MailBytes -From '"Printer 3" <scan@contoso.com>' -Subject 'Scanned document' -Attachment @{ 'scan0042.pdf' = [byte[]]::new(20000) }))
                $null = $Mock.AddMessage('helpdesk@contoso.com', 'e2a1c7f4-1042', (New-MailBytes -From '"Jane Doe" <jane@contoso.com>' -Subject 'VPN does not connect'))
                $null = $Mock.AddMessage('helpdesk@contoso.com', 'e2a1c7f4-1043', (New-MailBytes -From 'noreply@monitor.contoso.com' -Subject 'ALERT: disk C: on SRV-FILE01 below 10%'))
            }
            Assert = {
                param($Mock, $Run, $Dir)
                @($Mock.Pop3Sessions).Count | Should -Be 2
                $Mock.Pop3Sessions.User | Should -Be (@('helpdesk@contoso.com') * 2)
                $Mock.Pop3Sessions.Tls | Should -Be @($true, $true) -Because 'port 110 with STLS'
                $Mock.GetMailbox('helpdesk@contoso.com').Count | Should -Be 3 -Because 'listing changes nothing'
                $Run.Output | Should -Match 'e2a1c7f4-1042 .*VPN does not connect'
                $Run.Output | Should -Match '(?s)Scanned document.*ALERT: disk C: on SRV-FILE01 below 10%.*VPN does not connect\s*$' -Because 'the second command lists the largest first'
            }
        }
        @{
            Source = 'Get-Pop3Message'; Index = 2; Title = 'Download new mail to a folder and delete it from the server, from a scheduled task'
            Setup = {
                param($Mock, $Dir)
                $null = New-Item -ItemType Directory (Join-Path $Dir.C 'Scripts'), (Join-Path $Dir.D 'Mail/Invoices')
                foreach ($n in 1..3) { $null = $Mock.AddMessage('invoices@contoso.com', (New-MailBytes -From 'billing@fabrikam.com' -Subject "Invoice $n")) }
            }
            Assert = {
                param($Mock, $Run, $Dir)
                $uids = @($Mock.Pop3Sessions[0].DeletedUids)
                $uids.Count | Should -Be 3
                $Mock.GetMailbox('invoices@contoso.com').Count | Should -Be 0
                @(Get-ChildItem (Join-Path $Dir.D 'Mail/Invoices')).Name | Sort-Object | Should -Be @($uids | ForEach-Object { "$_.eml" } | Sort-Object)
                $Mock.Pop3Sessions[0].ImplicitTls | Should -BeTrue
                $Mock.Pop3Sessions[0].User | Should -Be 'invoices@contoso.com'
                $log = @(Get-Content (Join-Path $Dir.D 'Mail/fetch-invoices.log'))
                $log.Count | Should -Be 1
                $log[0] | Should -Match '^\d{4}-\d\d-\d\dT\S+ saved 3 new message\(s\)$'
            }
        }
        @{
            Source = 'Get-Pop3Message'; Index = 2; Title = 'Download new mail to a folder and delete it from the server, from a scheduled task'
            Variant = 'the server refuses to give one message'
            Setup = {
                param($Mock, $Dir)
                $null = New-Item -ItemType Directory (Join-Path $Dir.C 'Scripts'), (Join-Path $Dir.D 'Mail/Invoices')
                foreach ($n in 1..3) { $null = $Mock.AddMessage('invoices@contoso.com', (New-MailBytes -From 'billing@fabrikam.com' -Subject "Invoice $n")) }
                $null = $Mock.Pop3ReplyTo('RETR', '2', '-ERR [SYS/TEMP] Message 2 is not available now')
            }
            # The remarks: only logged as a warning; it stays, the others are saved and deleted.
            Errors = 'Message 2 is not available now'
            Assert = {
                param($Mock, $Run, $Dir)
                $left = @($Mock.GetMailbox('invoices@contoso.com').Uid)
                $left.Count | Should -Be 1
                @(Get-ChildItem (Join-Path $Dir.D 'Mail/Invoices')).Count | Should -Be 2
                Join-Path $Dir.D "Mail/Invoices/$($left[0]).eml" | Should -Not -Exist
                $log = @(Get-Content (Join-Path $Dir.D 'Mail/fetch-invoices.log'))
                $log[0] | Should -Match 'saved 2 new message\(s\)$'
                $log[1] | Should -Match "WARNING MessageUnavailable $([regex]::Escape($left[0])): "
            }
        }
        @{
            Source = 'Get-Pop3Message'; Index = 2; Title = 'Download new mail to a folder and delete it from the server, from a scheduled task'
            Variant = 'the connection drops halfway'
            Setup = {
                param($Mock, $Dir)
                $null = New-Item -ItemType Directory (Join-Path $Dir.C 'Scripts'), (Join-Path $Dir.D 'Mail/Invoices')
                foreach ($n in 1..3) { $null = $Mock.AddMessage('invoices@contoso.com', (New-MailBytes -From 'billing@fabrikam.com' -Subject "Invoice $n")) }
                $null = $Mock.Pop3CloseMidRetr('2', 100, 1)
            }
            # The remarks: the failure is logged with its ErrorId, the script exits with 1 so that
            # the task shows it, and the server deletes nothing.
            ExitCode = 1; Errors = 'connection to localhost:\d+ was lost while downloading message 2'
            Assert = {
                param($Mock, $Run, $Dir)
                $Mock.GetMailbox('invoices@contoso.com').Count | Should -Be 3
                @(Get-ChildItem (Join-Path $Dir.D 'Mail/Invoices') -Filter *.partial).Count | Should -Be 0
                $log = @(Get-Content (Join-Path $Dir.D 'Mail/fetch-invoices.log'))
                $log.Count | Should -Be 2
                $log[1] | Should -Match '^\S+ FAILED ConnectionLost localhost:\d+: '
            }
        }
        @{
            Source = 'Get-Pop3Message'; Index = 3; Title = 'Read the newest message and save its PDF attachments'
            Setup = {
                param($Mock, $Dir)
                $null = $Mock.AddMessage('monitoring', (New-MailBytes -From 'jane@contoso.com' -Subject 'Lunch' -Attachment @{ 'menu.pdf' = [byte[]](1..10) }))
                $null = $Mock.AddMessage('monitoring', (New-MailBytes -From 'billing@fabrikam.com' -Subject 'Invoice 1044' -Body 'Please find the invoice attached.' -Attachment ([ordered]@{ 'invoice-1044.pdf' = $pdf; 'terms.txt' = [Text.Encoding]::UTF8.GetBytes('terms'); '../../../../tmp/escaped/invoice.pdf' = [byte[]](7, 7, 7) })))
            }
            Assert = {
                param($Mock, $Run, $Dir)
                $saved = Join-Path $Dir.Home 'invoice-1044.pdf'
                $saved | Should -Exist
                [Convert]::ToBase64String([IO.File]::ReadAllBytes($saved)) | Should -Be ([Convert]::ToBase64String($pdf))
                @(Get-ChildItem $Dir.Home -File | Sort-Object Name).Name | Should -Be @('invoice-1044.pdf', 'invoice.pdf') -Because 'only the newest message''s PDFs are saved, each in the home folder'
                [IO.File]::ReadAllBytes((Join-Path $Dir.Home 'invoice.pdf')) | Should -Be @(7, 7, 7)
                Join-Path ([IO.Path]::GetTempPath()) 'escaped' | Should -Not -Exist
                $Run.Output | Should -Match 'Subject\s+: Invoice 1044'
                $Run.Output | Should -Match 'AttachmentNames\s+: \{?invoice-1044\.pdf, terms\.txt'
                $Run.Output | Should -Match 'Please find the invoice attached\.'
                $Mock.GetMailbox('monitoring').Count | Should -Be 2 -Because 'nothing is deleted'
                $Mock.Pop3Sessions[0].Commands | Should -Contain 'RETR 2'
                $Mock.Pop3Sessions[0].Commands | Should -Not -Contain 'RETR 1'
            }
        }
        @{
            Source = 'Get-Pop3Message'; Index = 4; Title = 'Read a Microsoft 365 or Gmail mailbox with an OAuth2 access token'
            Setup = {
                param($Mock, $Dir)
                $null = $Mock.AddTestMessages('reports@contoso.com', 22)
                $null = $Mock.AddTestMessages('contoso.reports@gmail.com', 3)
            }
            Assert = {
                param($Mock, $Run, $Dir)
                $sessions = @($Mock.Pop3Sessions)
                $sessions.Count | Should -Be 2
                $sessions.User | Should -Be @('reports@contoso.com', 'contoso.reports@gmail.com')
                $sessions.AuthMechanism | Should -Be @('XOAUTH2', 'XOAUTH2')
                $sessions.ImplicitTls | Should -Be @($true, $true)
                @($sessions[0].Commands -match '^TOP ').Count | Should -Be 20 -Because '-Newest 20 of 22'
                $sessions[0].Commands | Should -Not -Contain 'TOP 2 0'
                @($sessions[1].Commands -match '^TOP ').Count | Should -Be 3
                $Run.Output | Should -Match 'Test message 22'
            }
        }
        @{
            Source = 'Get-Pop3Message'; Index = 5; Title = 'Troubleshoot a connection with a transcript and verbose messages'
            Variant = 'the login fails'
            # The example is for a connection that fails: here the server refuses the password.
            Setup = { param($Mock, $Dir) $null = $Mock.AddTestMessages('monitoring', 2); $Mock.Users['monitoring'] = 'changed-by-the-admin' }
            Errors = "refused the credentials of 'monitoring'"
            Assert = {
                param($Mock, $Run, $Dir)
                $transcript = Get-Content (Join-Path $Dir.Work 'pop3-transcript.log') -Raw
                $transcript | Should -Match '-ERR'
                $Run.Output | Should -Match '(?m)^VERBOSE: '
                $Run.Output | Should -Match '(?m)^AuthenticationFailed,MailProtocols\.Commands\.GetPop3MessageCommand\s*$' -Because '$Error[0] names the ErrorId'
                $Mock.GetMailbox('monitoring').Count | Should -Be 2
            }
        }

        # ---------------------------------------------------------------- Remove-Pop3Message
        @{
            Source = 'Get-Pop3Message'; Index = 6; Title = 'Read a Microsoft 365 mailbox as an Entra app, with the client secret from a vault'
            Prelude = '{{AppSignIn}}'
            Setup = {
                param($Mock, $Dir)
                $null = $Mock.AddTestMessages('helpdesk@contoso.com', 12)
            }
            Assert = {
                param($Mock, $Run, $Dir)
                $Mock.Pop3Sessions[0].User | Should -Be 'helpdesk@contoso.com'
                $Mock.Pop3Sessions[0].AuthMechanism | Should -Be 'XOAUTH2'
                $Mock.Pop3Sessions[0].ImplicitTls | Should -BeTrue
                @($Mock.Pop3Sessions[0].Commands -match '^TOP ').Count | Should -Be 10
                $Run.Output | Should -Match 'Test message 12'
                @($entra.Requests).Credential | Should -Be 'secret'
            }
        }
        @{
            Source = 'Remove-Pop3Message'; Index = 1; Title = 'Delete the alert messages of a monitoring mailbox, with a confirmation prompt'
            # The example answers a prompt. Run unchanged as a scheduled task (-NonInteractive),
            # it must refuse with ConfirmationRequired and delete nothing.
            Drop = '^Confirm$', '^Are you sure you want to perform this action\?$', '^Performing the operation "Delete message .*$', '^\[Y\] Yes  \[A\] Yes to All .*$'
            Sample = "Delete message \S+ from [^,]+, '[^']*' \([\d,]+ bytes\)"
            Setup = {
                param($Mock, $Dir)
                $null = $Mock.AddMessage('monitoring', (New-MailBytes -From 'jane@contoso.com' -Subject 'Weekly numbers'))
                $null = $Mock.AddMessage('monitoring', 'e2a1c7f4-1043', (New-MailBytes -From 'noreply@monitor.contoso.com' -Subject 'ALERT: disk C: on SRV-FILE01 below 10%'))
            }
            Errors = "must ask before it can 'Delete message e2a1c7f4-1043 from noreply@monitor\.contoso\.com, 'ALERT: disk C: on SRV-FILE01 below 10%'"
            Assert = {
                param($Mock, $Run, $Dir)
                $Run.ErrorText | Should -Match 'In a scheduled task or script add -Force or -Confirm:\$false\. Nothing was changed\.'
                $Mock.GetMailbox('monitoring').Count | Should -Be 2
                @($Mock.Pop3Sessions).Count | Should -BeGreaterThan 0
                @($Mock.Pop3Sessions.Commands -match '^DELE').Count | Should -Be 0
            }
        }
        @{
            Source = 'Remove-Pop3Message'; Index = 2; Title = 'Delete messages older than 30 days, unattended, from a scheduled task'
            Setup = {
                param($Mock, $Dir)
                $scripts = New-Item -ItemType Directory (Join-Path $Dir.C 'Scripts')
                $credential | Export-Clixml -Path (Join-Path $scripts 'pop3-monitoring.xml')
                $Dir.Extra.Old = @(
                    $Mock.AddMessage('monitoring', (New-MailBytes -From 'noreply@monitor.contoso.com' -Subject 'ALERT old' -Date ([DateTimeOffset]::Now.AddDays(-45))))
                    $Mock.AddMessage('monitoring', (New-MailBytes -From 'noreply@monitor.contoso.com' -Subject 'ALERT older' -Date ([DateTimeOffset]::Now.AddDays(-31))))
                )
                $Dir.Extra.Kept = @(
                    $Mock.AddMessage('monitoring', (New-MailBytes -From 'noreply@monitor.contoso.com' -Subject 'ALERT new' -Date ([DateTimeOffset]::Now.AddDays(-2))))
                    $Mock.AddMessage('monitoring', (New-MailBytes -From 'noreply@monitor.contoso.com' -Subject 'no date' -NoDate))
                )
            }
            Assert = {
                param($Mock, $Run, $Dir)
                @($Mock.GetMailbox('monitoring').Uid) | Should -Be $Dir.Extra.Kept
                $Mock.Pop3Sessions.ImplicitTls | Should -Not -Contain $false
                $log = @(Get-Content (Join-Path $Dir.C 'Scripts/purge-monitoring.log'))
                $log.Count | Should -Be 2
                foreach ($uid in $Dir.Extra.Old) { $log -join "`n" | Should -Match "(?m)^\d{4}-\d\d-\d\dT\S+ deleted $([regex]::Escape($uid)) \([\d,]+ bytes\)$" }
            }
        }
        @{
            Source = 'Remove-Pop3Message'; Index = 3; Title = 'Delete messages by UID and see what was deleted'
            Drop = '^Remove-Pop3Message: No message with UID .*$', '^Uid\s+Number\s+Size$', '^---\s+------\s+----$', '^e2a1c7f4-104[45]\s+\d+\s+\d+$'
            Sample = "No message with UID 'e2a1c7f4-0999' is in the mailbox \S+@\S+; it may have been deleted already\.", '(?m)^Uid\s+Number\s+Size\s*$'
            Setup = {
                param($Mock, $Dir)
                foreach ($uid in 'e2a1c7f4-1043', 'e2a1c7f4-1044', 'e2a1c7f4-1045') {
                    $null = $Mock.AddMessage('monitoring', $uid, (New-MailBytes -From 'noreply@monitor.contoso.com' -Subject "ALERT $uid"))
                }
            }
            Errors = "No message with UID 'e2a1c7f4-0999' is in the mailbox monitoring@localhost"
            Assert = {
                param($Mock, $Run, $Dir)
                @($Mock.GetMailbox('monitoring').Uid) | Should -Be @('e2a1c7f4-1043')
                @($Mock.Pop3Sessions).Count | Should -Be 1 -Because 'one session deletes both'
                $Run.Output | Should -Match '(?m)^e2a1c7f4-1044\s+2\s+\d+\s*$'
                $Run.Output | Should -Match '(?m)^e2a1c7f4-1045\s+3\s+\d+\s*$'
            }
        }
        @{
            Source = 'Remove-Pop3Message'; Index = 4; Title = 'Preview a cleanup with -WhatIf'
            Drop = '^What if: Performing the operation "Delete message .*$'
            Sample = 'What if: Performing the operation "Delete message \S+ \([\d,]+ bytes\)" on target "[^"]+"\.'
            Setup = {
                param($Mock, $Dir)
                $null = $Mock.AddTestMessages('monitoring', 1)
                $Dir.Extra.Big = @($Mock.AddLargeMessage('monitoring', 11MB), $Mock.AddLargeMessage('monitoring', 12MB))
                $null = $Mock.AddTestMessages('monitoring', 1)
            }
            Assert = {
                param($Mock, $Run, $Dir)
                $Mock.GetMailbox('monitoring').Count | Should -Be 4
                @($Mock.Pop3Sessions).Count | Should -BeGreaterThan 0
                @($Mock.Pop3Sessions.Commands -match '^DELE').Count | Should -Be 0
                $whatIf = @($Run.Output -split "`n" -match '^What if: ')
                $whatIf.Count | Should -Be 2
                $whatIf[0] | Should -Match "Delete message $([regex]::Escape($Dir.Extra.Big[0])) \("
                $whatIf[1] | Should -Match "Delete message $([regex]::Escape($Dir.Extra.Big[1])) \("
            }
        }
        @{
            Source = 'Remove-Pop3Message'; Index = 5; Title = 'Review a listing in a CSV file, then delete the messages left in it'
            # The file is not edited between the two commands (no one is there to do it), so
            # every message listed is deleted.
            Setup = { param($Mock, $Dir) $Dir.Extra.Uids = @($Mock.AddTestMessages('monitoring', 3)) }
            Assert = {
                param($Mock, $Run, $Dir)
                $rows = @(Import-Csv (Join-Path $Dir.Work 'review.csv'))
                $rows.Uid | Should -Be $Dir.Extra.Uids
                $rows[0].PSObject.Properties.Name | Should -Be @('Uid', 'Date', 'From', 'Subject', 'Size')
                $Mock.GetMailbox('monitoring').Count | Should -Be 0
                foreach ($uid in $Dir.Extra.Uids) { $Run.Output | Should -Match "(?m)^$([regex]::Escape($uid))\s+\d+\s+\d+\s*$" }
            }
        }

        # ---------------------------------------------------------------- Import-MailMessage
        @{
            Source = 'Import-MailMessage'; Index = 1; Title = 'List a folder of saved mail, newest first'
            Setup = {
                param($Mock, $Dir)
                $folder = New-Item -ItemType Directory (Join-Path $Dir.D 'Mail/Invoices')
                foreach ($n in 1..3) {
                    $bytes = New-MailBytes -From 'billing@fabrikam.com' -Subject "Invoice $n" -Date ([DateTimeOffset]::Now.AddDays($n - 10))
                    [IO.File]::WriteAllBytes((Join-Path $folder "inv-100$n.eml"), $bytes)
                }
            }
            Assert = {
                param($Mock, $Run, $Dir)
                $Run.Output | Should -Match '(?m)^Date\s+From\s+Subject\s*$'
                $Run.Output | Should -Match '(?s)Invoice 3.*Invoice 2.*Invoice 1' -Because 'newest first'
                $Run.Output | Should -Match 'billing@fabrikam\.com'
            }
        }
        @{
            Source = 'Import-MailMessage'; Index = 2; Title = 'Read the bodies of one sender''s messages'
            Setup = {
                param($Mock, $Dir)
                $folder = New-Item -ItemType Directory (Join-Path $Dir.D 'Mail/Invoices')
                [IO.File]::WriteAllBytes((Join-Path $folder 'inv-1.eml'), (New-MailBytes -From '"Billing" <billing@fabrikam.com>' -Subject 'Invoice 1' -Body 'Amount due: 100 EUR'))
                [IO.File]::WriteAllBytes((Join-Path $folder 'inv-2.eml'), (New-MailBytes -From 'jane@contoso.com' -Subject 'Lunch' -Body 'Noon?'))
                [IO.File]::WriteAllBytes((Join-Path $folder 'inv-3.eml'), (New-MailBytes -From 'billing@fabrikam.com' -Subject 'Invoice 2' -Body 'Amount due: 250 EUR'))
            }
            Assert = {
                param($Mock, $Run, $Dir)
                @($Run.Output -split "`n") | Should -Be @('Invoice 1: Amount due: 100 EUR', 'Invoice 2: Amount due: 250 EUR')
            }
        }
        @{
            Source = 'Import-MailMessage'; Index = 3; Title = 'Delete from the server what was saved more than 30 days ago'
            Setup = {
                param($Mock, $Dir)
                $folder = New-Item -ItemType Directory (Join-Path $Dir.D 'Mail/Invoices')
                foreach ($m in @(
                        @{ Uid = 'inv-1001'; Days = -60 }, @{ Uid = 'INV-1002'; Days = -45 }, @{ Uid = 'inv-1003'; Days = -1 }, @{ Uid = 'inv-1004'; Days = -90; NotSaved = $true })) {
                    $bytes = New-MailBytes -From 'billing@fabrikam.com' -Subject "Invoice $($m.Uid)" -Date ([DateTimeOffset]::Now.AddDays($m.Days))
                    $null = $Mock.AddMessage('monitoring', $m.Uid, $bytes)
                    if (-not $m.NotSaved) { [IO.File]::WriteAllBytes((Join-Path $folder "$(($m.Uid -creplace '([A-Z])', '^$1').ToLowerInvariant()).eml"), $bytes) }
                }
                # A file saved by hand: its name is no UID, so nothing is deleted for it.
                [IO.File]::WriteAllBytes((Join-Path $folder 'Scan from printer.eml'), (New-MailBytes -From 'scan@contoso.com' -Subject 'Scan' -Date ([DateTimeOffset]::Now.AddDays(-100))))
            }
            Assert = {
                param($Mock, $Run, $Dir)
                Join-Path $Dir.D 'Mail/Invoices/^i^n^v-1002.eml' | Should -Exist
                @($Mock.Pop3Sessions.DeletedUids) | Sort-Object | Should -Be (@('INV-1002', 'inv-1001') | Sort-Object)
                @($Mock.GetMailbox('monitoring').Uid) | Should -Be @('inv-1003', 'inv-1004')
            }
        }
        @{
            Source = 'Import-MailMessage'; Index = 4; Title = 'Import from Get-ChildItem and list the files that are not mail'
            Setup = {
                param($Mock, $Dir)
                $inbox = New-Item -ItemType Directory (Join-Path $Dir.D 'Mail/Invoices')
                $archive = New-Item -ItemType Directory (Join-Path $Dir.D 'Mail/Archive/2024')
                [IO.File]::WriteAllBytes((Join-Path $inbox 'inv-1.eml'), (New-MailBytes -From 'billing@fabrikam.com' -Subject 'Invoice 1'))
                [IO.File]::WriteAllBytes((Join-Path $inbox 'inv-2.eml'), (New-MailBytes -From 'billing@fabrikam.com' -Subject 'Invoice 2'))
                [IO.File]::WriteAllBytes((Join-Path $archive 'old.eml'), (New-MailBytes -From 'billing@fabrikam.com' -Subject 'Invoice 0'))
                [IO.File]::WriteAllBytes((Join-Path $Dir.D 'Mail/broken.eml'), [byte[]]@())
                [IO.File]::WriteAllBytes((Join-Path $archive 'scan.eml'), [byte[]](0x25, 0x50, 0x44, 0x46, 0x2D, 0x31, 0x0A, 0x00, 0xFF, 0xFE))
            }
            Assert = {
                param($Mock, $Run, $Dir)
                $lines = @($Run.Output -split "`n")
                $lines[0] | Should -Be '3 message(s)'
                $lines.Count | Should -Be 3
                $lines[1..2] | Sort-Object | Should -Be @(
                    "NotAMailMessage $(Join-Path $Dir.D 'Mail/Archive/2024/scan.eml')"
                    "NotAMailMessage $(Join-Path $Dir.D 'Mail/broken.eml')"
                )
            }
        }

        # ---------------------------------------------------------------- Test-SmtpConnection
        @{
            Source = 'Test-SmtpConnection'; Index = 1; Title = 'Probe a relay and check two recipients'
            Assert = {
                param($Mock, $Run, $Dir)
                $Run.Output | Should -Match '(?m)^Success\s+: True$'
                $Run.Output | Should -Match 'ops@contoso\.com: 250'
                $Run.Output | Should -Match 'helpdesk@contoso\.com: 250'
                $Mock.Messages.Count | Should -Be 0 -Because 'a probe sends nothing'
                $commands = @($Mock.SmtpSessions[0].Commands)
                $commands | Should -Contain 'STARTTLS'
                $commands | Should -Contain 'RCPT TO:<helpdesk@contoso.com>'
                $commands | Should -Contain 'RSET'
                @($commands -match '^(DATA|BDAT)').Count | Should -Be 0
            }
        }
        @{
            Source = 'Test-SmtpConnection'; Index = 2; Title = 'Check certificate expiry across a list of servers from a CSV'
            Setup = {
                param($Mock, $Dir)
                @(
                    [pscustomobject]@{ SmtpServer = 'localhost'; Port = $Mock.SmtpPort; TlsMode = 'StartTls' }
                    [pscustomobject]@{ SmtpServer = 'localhost'; Port = $Mock.SmtpsPort; TlsMode = 'Implicit' }
                ) | Export-Csv -LiteralPath (Join-Path $Dir.Work 'servers.csv')
            }
            Assert = {
                param($Mock, $Run, $Dir)
                # The mock's certificate expires in 30 days: both rows are listed.
                $Run.Output | Should -Match "(?m)^localhost:$($Mock.SmtpPort)\s+True\s+\d{4}-\d\d-\d\d\s+29\s*$"
                $Run.Output | Should -Match "(?m)^localhost:$($Mock.SmtpsPort)\s+True\s+\d{4}-\d\d-\d\d\s+29\s*$"
                @($Mock.SmtpSessions).Count | Should -Be 2
                $Mock.SmtpSessions[1].ImplicitTls | Should -BeTrue
                $Mock.Messages.Count | Should -Be 0
            }
        }
        @{
            Source = 'Test-SmtpConnection'; Index = 3; Title = 'Find which port speaks what: 25, 465 and 587 in one pipeline'
            Assert = {
                param($Mock, $Run, $Dir)
                # 25 and 587 are both the mock's STARTTLS port, 465 its implicit-TLS port.
                @($Run.Output -split "`n" -match "^\s*$($Mock.SmtpPort)\s+StartTls\s+True\s").Count | Should -Be 2
                @($Run.Output -split "`n" -match "^\s*$($Mock.SmtpPort)\s+Implicit\s+False\s+Tls\s").Count | Should -Be 2
                $Run.Output | Should -Match "(?m)^\s*$($Mock.SmtpsPort)\s+StartTls\s+False\s+Banner\s"
                $Run.Output | Should -Match "(?m)^\s*$($Mock.SmtpsPort)\s+Implicit\s+True\s"
                # The list wraps the hints at the console's width.
                $Run.Output -replace '\s' | Should -Match 'answeredinplaintextwhereaTLShandshakewasexpected'
                # On 465 the hint is that the port expects TLS; the mock's implicit-TLS port has another number.
                $Run.Output -replace '\s' | Should -Match 'Nogreetingcamewithin5s:eithertheportexpectsTLSfromthefirstbyte'
                $Mock.Messages.Count | Should -Be 0
            }
        }

        @{
            Source = 'Test-SmtpConnection'; Index = 4; Title = 'Diagnose an Exchange Online app registration'
            Prelude = '{{AppSignIn}}'
            Assert = {
                param($Mock, $Run, $Dir)
                $Run.Output | Should -Match '(?m)^Success\s+: True$'
                $Run.Output | Should -Match '(?m)^SignIn\s+: XOAUTH2: 235 '
                $s = $Mock.SmtpSessions[0]
                $s.AuthUser | Should -Be 'reports@contoso.com'
                $s.Tls | Should -BeTrue
                @($s.Commands -match '^(MAIL|RCPT|DATA|BDAT)').Count | Should -Be 0
                $Mock.Messages.Count | Should -Be 0
                @($entra.Requests).Credential | Should -Be 'secret'
            }
        }
        @{
            Source = 'Test-SmtpConnection'; Index = 4; Title = 'Diagnose an Exchange Online app registration'
            Variant = 'the app has no permission on the mailbox'
            Prelude = '{{AppSignIn}}'
            Setup = { param($Mock, $Dir) $Mock.Smtp.ExchangeAuthRefusal = 'AuthenticationUnsuccessful' }
            Assert = {
                param($Mock, $Run, $Dir)
                $Run.Output | Should -Match '(?m)^Success\s+: False$'
                $Run.Output | Should -Match '(?m)^FailedStage\s+: Auth$'
                $Run.Output | Should -Match '(?m)^SignIn\s+: XOAUTH2: 535 5\.7\.3 '
                $Run.Output | Should -Match 'Add-MailboxPermission' -Because 'the list wraps between words'
                $Mock.Messages.Count | Should -Be 0
            }
        }
        @{
            Source = 'Test-SmtpConnection'; Index = 4; Title = 'Diagnose an Exchange Online app registration'
            Variant = 'the secret is wrong'
            # The vault's secret is not the app's: the token endpoint refuses it before any mail connection.
            Prelude = '{{AppSignIn}}' + "`nfunction Get-Secret { param([string] `$Name) ConvertTo-SecureString 'Not-The-Secret' -AsPlainText -Force }"
            Assert = {
                param($Mock, $Run, $Dir)
                $Run.Output | Should -Match '(?m)^FailedStage\s+: Auth$'
                $Run.Output | Should -Match 'AADSTS7000215' -Because 'the list wraps between words'
                $Run.Output -replace '\s+', ' ' | Should -Match 'so the mail server was not connected to'
                $Mock.SmtpConnectionCount | Should -Be 0
            }
        }
        # ---------------------------------------------------------------- Test-Pop3Connection
        @{
            Source = 'Test-Pop3Connection'; Index = 1; Title = 'Probe a mailbox: TLS, certificate, login and message count'
            Prelude = @'
# The example uses port 995, where -TlsMode Auto means implicit TLS; the mock's implicit-TLS port has another number.
$PSDefaultParameterValues['Test-Pop3Connection:TlsMode'] = 'Implicit'
'@
            Setup = { param($Mock, $Dir) $Dir.Extra.Uids = @($Mock.AddTestMessages('monitoring', 2)) }
            Assert = {
                param($Mock, $Run, $Dir)
                $Run.Output | Should -Match '(?m)^Success\s+: True$'
                $Run.Output | Should -Match '(?m)^Login\s+: PLAIN: \+OK'
                $Run.Output | Should -Match '(?m)^Mailbox\s+: 2 messages, '
                $Run.Output | Should -Match '(?m)^CertCheck\s+: passed$'
                $Run.Output | Should -Match '(?m)^Tls\s+: Tls1[23] \(Implicit\), '
                $s = $Mock.Pop3Sessions[0]
                $s.ImplicitTls | Should -BeTrue
                @($s.Commands -match '^(DELE|RETR|TOP)\b').Count | Should -Be 0 -Because 'a probe reads and deletes nothing'
                $s.QuitReceived | Should -BeTrue
                @($Mock.GetMailbox('monitoring').Uid) | Should -Be $Dir.Extra.Uids
            }
        }
        @{
            Source = 'Test-Pop3Connection'; Index = 2; Title = 'Check certificate expiry across a list of servers from a CSV'
            Setup = {
                param($Mock, $Dir)
                @(
                    [pscustomobject]@{ Pop3Server = 'localhost'; Port = $Mock.Pop3sPort; TlsMode = 'Implicit' }
                    [pscustomobject]@{ Pop3Server = 'localhost'; Port = $Mock.Pop3Port; TlsMode = 'StartTls' }
                ) | Export-Csv -LiteralPath (Join-Path $Dir.Work 'servers.csv')
            }
            Assert = {
                param($Mock, $Run, $Dir)
                # The mock's certificate expires in 30 days: both rows are listed.
                $Run.Output | Should -Match "(?m)^localhost:$($Mock.Pop3sPort)\s+True\s+\d{4}-\d\d-\d\d\s+29\s*$"
                $Run.Output | Should -Match "(?m)^localhost:$($Mock.Pop3Port)\s+True\s+\d{4}-\d\d-\d\d\s+29\s*$"
                @($Mock.Pop3Sessions).Count | Should -Be 2
                $Mock.Pop3Sessions[0].ImplicitTls | Should -BeTrue
                @($Mock.Pop3Sessions.Commands) | Should -Be @('CAPA', 'QUIT', 'CAPA', 'STLS', 'CAPA', 'QUIT') -Because 'no login without a credential'
            }
        }
        @{
            Source = 'Test-Pop3Connection'; Index = 3; Title = 'Find which port speaks what: 110 and 995 in one pipeline'
            Assert = {
                param($Mock, $Run, $Dir)
                # 110 is the mock's STLS port, 995 its implicit-TLS port.
                $Run.Output | Should -Match "(?m)^\s*$($Mock.Pop3Port)\s+StartTls\s+True\s+PLAIN LOGIN XOAUTH2"
                $Run.Output | Should -Match "(?m)^\s*$($Mock.Pop3Port)\s+Implicit\s+False\s+Tls\s"
                $Run.Output | Should -Match "(?m)^\s*$($Mock.Pop3sPort)\s+StartTls\s+False\s+Greeting\s"
                $Run.Output | Should -Match "(?m)^\s*$($Mock.Pop3sPort)\s+Implicit\s+True\s+PLAIN LOGIN XOAUTH2"
                # The list wraps the hints at the console's width.
                $Run.Output -replace '\s' | Should -Match 'answeredinplaintext\(\+OK\)whereaTLShandshakewasexpected'
                $Run.Output -replace '\s' | Should -Match 'Nogreetingcamewithin5s'
                @($Mock.Pop3Sessions.Commands -match '^(USER|PASS|AUTH|APOP|DELE)\b').Count | Should -Be 0
            }
        }

        # ---------------------------------------------------------------- README.md
        @{
            Source = 'Remove-Pop3Message'; Index = 6; Title = 'Delete alert messages of a Microsoft 365 mailbox as an Entra app, with a certificate from a .pfx file'
            Prelude = '{{AppSignIn}}'
            Setup = {
                param($Mock, $Dir)
                $null = New-Item -ItemType Directory (Join-Path $Dir.C 'Keys')
                Copy-Item $appPfx (Join-Path $Dir.C 'Keys/mail-app.pfx')
                $null = $Mock.AddMessage('helpdesk@contoso.com', (New-MailBytes -From 'noreply@monitor.contoso.com' -Subject 'ALERT: disk full'))
                $Dir.Extra.Keep = $Mock.AddMessage('helpdesk@contoso.com', (New-MailBytes -From 'jane@contoso.com' -Subject 'Printer on floor 2'))
                $null = $Mock.AddMessage('helpdesk@contoso.com', (New-MailBytes -From 'noreply@monitor.contoso.com' -Subject 'ALERT: backup late'))
            }
            Assert = {
                param($Mock, $Run, $Dir)
                @($Mock.GetMailbox('helpdesk@contoso.com').Uid) | Should -Be @($Dir.Extra.Keep)
                $Mock.Pop3Sessions.AuthMechanism | Sort-Object -Unique | Should -Be 'XOAUTH2'
                @($entra.Requests).Count | Should -Be 1 -Because 'the second session reuses the token of the first'
                @($entra.Requests).Credential | Should -Be 'assertion'
            }
        }
        @{
            Source = 'README'; Index = 1; Title = 'Send-SmtpMessage'
            # The block imports the module by its path in the repository: the working folder
            # gets the build output as ./out, as at the root of a clone.
            ImportsModule = $true
            Setup = {
                param($Mock, $Dir)
                [IO.File]::WriteAllBytes((Join-Path $Dir.Work 'chart.png'), $png)
                $out = New-Item -ItemType Directory (Join-Path $Dir.Work 'out')
                $null = New-Item -ItemType SymbolicLink -Path (Join-Path $out 'MailProtocols') -Target (Split-Path (Split-Path $modulePath))
            }
            Assert = {
                param($Mock, $Run, $Dir)
                $Mock.Messages.Count | Should -Be 3
                $sessions = @($Mock.SmtpSessions)
                $first, $second, $third = $Mock.Messages
                $first.AcceptedRecipients | Should -Be @('admin@contoso.com')
                $first.AuthUser | Should -Be 'monitoring'
                $first.Tls | Should -BeTrue
                $report = ConvertFrom-RawMessage $second.Data
                $report.Subject | Should -Be 'Weekly report'
                $report.Headers['X-Report'] | Should -Be 'weekly'
                @($report.BodyParts | Where-Object ContentId -eq 'chart').Count | Should -Be 1
                $third.AcceptedRecipients | Should -Be @('you@contoso.com')
                $sessions[2].AuthMechanism | Should -Be 'XOAUTH2'
                $sessions[2].AuthUser | Should -Be 'me@contoso.com'
            }
        }
        @{
            Source = 'README'; Index = 2; Title = 'Pipeline: the rule, block 1'
            Setup = {
                param($Mock, $Dir)
                @(
                    [pscustomobject]@{ To = 'ops@contoso.com'; Subject = 'Disk C: low on SRV01'; Body = 'C: is at 93%' }
                    [pscustomobject]@{ To = 'dba@contoso.com'; Subject = 'Backup late on SQL02'; Body = 'Not finished.' }
                ) | Export-Csv -Path (Join-Path $Dir.Work 'alerts.csv')
            }
            Assert = {
                param($Mock, $Run, $Dir)
                $Mock.Messages.Count | Should -Be 2
                @($Mock.Messages.AcceptedRecipients) | Should -Be @('ops@contoso.com', 'dba@contoso.com')
                $Mock.Messages.MailFrom | Should -Be (@('monitor@contoso.com') * 2)
                $Mock.SmtpSessions.Count | Should -Be 1
            }
        }
        @{
            Source = 'README'; Index = 3; Title = 'Pipeline: the rule, block 2'
            Setup = {
                param($Mock, $Dir)
                $logs = New-Item -ItemType Directory (Join-Path $Dir.C 'logs')
                Set-Content (Join-Path $logs 'app.log') 'app started'
                Set-Content -LiteralPath (Join-Path $logs 'app[1].log') -Value 'rotated'
            }
            Assert = {
                param($Mock, $Run, $Dir)
                $Mock.Messages.Count | Should -Be 1
                $m = ConvertFrom-RawMessage $Mock.Messages[0].Data
                @($m.Attachments.FileName | Sort-Object) | Should -Be @('app.log', 'app[1].log')
            }
        }
        @{
            Source = 'README'; Index = 4; Title = 'Get-Pop3Message and Remove-Pop3Message'
            Setup = {
                param($Mock, $Dir)
                $null = New-Item -ItemType Directory (Join-Path $Dir.D 'Mail/Inbox')
                $null = $Mock.AddMessage('monitoring', (New-MailBytes -From 'jane@contoso.com' -Subject 'Weekly numbers' -Body 'Numbers are up.'))
                $null = $Mock.AddMessage('monitoring', (New-MailBytes -From 'noreply@monitor.contoso.com' -Subject 'ALERT: disk C: on SRV-FILE01 below 10%'))
            }
            Assert = {
                param($Mock, $Run, $Dir)
                $Run.Output | Should -Match 'Weekly numbers'
                $Run.Output | Should -Match 'Numbers are up\.'
                @(Get-ChildItem (Join-Path $Dir.D 'Mail/Inbox') -Filter *.eml).Count | Should -Be 2
                $Mock.GetMailbox('monitoring').Count | Should -Be 0 -Because 'the download deletes what it saved, so the cleanup finds nothing'
                $Mock.Pop3Sessions.Tls | Should -Not -Contain $false
            }
        }

        @{
            Source = 'README'; Index = 4; Title = 'Get-Pop3Message and Remove-Pop3Message'
            Variant = 'an alert the download could not take is left for the cleanup'
            # The server will not give the alert, so it stays; the cleanup line, without -Force,
            # cannot ask in a scheduled task: ConfirmationRequired, and it stays.
            Setup = {
                param($Mock, $Dir)
                $null = New-Item -ItemType Directory (Join-Path $Dir.D 'Mail/Inbox')
                $null = $Mock.AddMessage('monitoring', (New-MailBytes -From 'jane@contoso.com' -Subject 'Weekly numbers' -Body 'Numbers are up.'))
                $Dir.Extra.Alert = $Mock.AddMessage('monitoring', (New-MailBytes -From 'noreply@monitor.contoso.com' -Subject 'ALERT: disk C: on SRV-FILE01 below 10%'))
                $null = $Mock.Pop3ReplyTo('RETR', '2', '-ERR [SYS/TEMP] Message 2 is not available now')
            }
            Errors = "(?s)refused to give message mock-\d+: .*must ask before it can 'Delete message mock-\d+ from noreply@monitor\.contoso\.com"
            Assert = {
                param($Mock, $Run, $Dir)
                @(Get-ChildItem (Join-Path $Dir.D 'Mail/Inbox') -Filter *.eml).Count | Should -Be 1
                @($Mock.GetMailbox('monitoring').Uid) | Should -Be @($Dir.Extra.Alert)
                @($Mock.Pop3Sessions).Count | Should -Be 5 -Because 'the last line lists, then opens its own session to look up the UID'
                @($Mock.Pop3Sessions[4].Commands -match '^DELE').Count | Should -Be 0
            }
        }
        @{
            Source = 'README'; Index = 5; Title = 'Import-MailMessage'
            Setup = {
                param($Mock, $Dir)
                $inbox = New-Item -ItemType Directory (Join-Path $Dir.D 'Mail/Inbox')
                foreach ($m in @(
                        @{ Uid = 'mock-1'; Subject = 'Weekly numbers'; Days = -40 }
                        @{ Uid = 'mock-2'; Subject = 'ALERT: disk C: on SRV-FILE01 below 10%'; Days = -2; Body = 'C: has 9% free.' }
                        @{ Uid = 'mock-3'; Subject = 'Lunch'; Days = -1 })) {
                    $bytes = New-MailBytes -From 'noreply@monitor.contoso.com' -Subject $m.Subject -Body ($m.Body ?? 'Hello.') -Date ([DateTimeOffset]::Now.AddDays($m.Days))
                    $null = $Mock.AddMessage('monitoring', $m.Uid, $bytes)
                    [IO.File]::WriteAllBytes((Join-Path $inbox "$($m.Uid).eml"), $bytes)
                }
            }
            Assert = {
                param($Mock, $Run, $Dir)
                $Run.Output | Should -Match 'ALERT: disk C: on SRV-FILE01 below 10%'
                $Run.Output | Should -Match 'C: has 9% free\.'
                $Run.Output | Should -Not -Match 'Lunch'
                @($Mock.GetMailbox('monitoring').Uid) | Should -Be @('mock-2', 'mock-3') -Because 'only the message saved more than 30 days ago is deleted'
            }
        }
        @{
            Source = 'README'; Index = 6; Title = 'Save-MailAttachment'
            Setup = {
                param($Mock, $Dir)
                & $vendorSetup $Mock $Dir
                [pscredential]::new('vendor-files@contoso.com', (ConvertTo-SecureString $password -AsPlainText -Force)) | Export-Clixml -Path (Join-Path $Dir.C 'Scripts/pop3-vendor.xml')
            }
            Assert = {
                param($Mock, $Run, $Dir)
                & $vendorAssert $Mock $Dir @('report.pdf', 'daily.csv', $Dir.Extra.Suffixed, 'notes.txt')
            }
        }
        @{
            Source = 'README'; Index = 7; Title = 'App-only sign-in to Microsoft 365 (no password, no user)'
            Prelude = '{{AppSignIn}}'
            Assert = {
                param($Mock, $Run, $Dir)
                $Mock.Messages.Count | Should -Be 1
                $Mock.SmtpSessions[0].AuthUser | Should -Be 'reports@contoso.com'
                $Mock.SmtpSessions[0].AuthMechanism | Should -Be 'XOAUTH2'
            }
        }

        # ---------------------------------------------------------------- Save-MailAttachment
        @{
            Source = 'Save-MailAttachment'; Index = 1; Title = 'Save the attachments of new mail, then delete from the server only what was saved, from a scheduled task'
            Setup = { param($Mock, $Dir) & $vendorSetup $Mock $Dir }
            Assert = {
                param($Mock, $Run, $Dir)
                & $vendorAssert $Mock $Dir @('report.pdf', 'daily.csv', $Dir.Extra.Suffixed)
                Join-Path $Dir.D 'Vendor/errors.log' | Should -Not -Exist
            }
        }
        @{
            Source = 'Save-MailAttachment'; Index = 1; Title = 'Save the attachments of new mail, then delete from the server only what was saved, from a scheduled task'
            Variant = 'a saved message that cannot be read stays for the next run'
            Setup = {
                param($Mock, $Dir)
                & $vendorSetup $Mock $Dir
                [IO.File]::WriteAllBytes((Join-Path $Dir.D 'Vendor/Inbox/broken.eml'), [byte[]]::new(0))
            }
            ExitCode = 1; Errors = "Cannot read the message file '.*broken\.eml'"
            Assert = {
                param($Mock, $Run, $Dir)
                & $vendorAssert $Mock $Dir @('report.pdf', 'daily.csv', $Dir.Extra.Suffixed)
                Join-Path $Dir.D 'Vendor/Inbox/broken.eml' | Should -Exist
                Get-Content (Join-Path $Dir.D 'Vendor/errors.log') | Should -Match '^\S+ MessageUnreadable .*broken\.eml: Cannot read'
            }
        }
        @{
            Source = 'Save-MailAttachment'; Index = 2; Title = 'Save the PDF attachments of the newest message'
            Setup = {
                param($Mock, $Dir)
                $null = $Mock.AddMessage('monitoring', (New-MailBytes -From 'jane@contoso.com' -Subject 'Lunch' -Attachment @{ 'menu.pdf' = [byte[]](1..10) }))
                $null = $Mock.AddMessage('monitoring', (New-MailBytes -From 'billing@fabrikam.com' -Subject 'Invoice 1044' -Attachment ([ordered]@{ 'invoice-1044.pdf' = $pdf; 'terms.txt' = [byte[]](1, 2); '../../../tmp/evil.pdf' = [byte[]](9, 9) })))
            }
            Assert = {
                param($Mock, $Run, $Dir)
                @(Get-ChildItem $Dir.Home -File | Sort-Object Name).Name | Should -Be @('evil.pdf', 'invoice-1044.pdf')
                [IO.File]::ReadAllBytes((Join-Path $Dir.Home 'invoice-1044.pdf')) | Should -Be $pdf
                [IO.File]::ReadAllBytes((Join-Path $Dir.Home 'evil.pdf')) | Should -Be @(9, 9)
                Join-Path ([IO.Path]::GetTempPath()) 'evil.pdf' | Should -Not -Exist
                $Run.Output | Should -Match 'invoice-1044\.pdf'
                $Mock.GetMailbox('monitoring').Count | Should -Be 2 -Because 'nothing is deleted'
            }
        }
        @{
            Source = 'Save-MailAttachment'; Index = 3; Title = 'Save the images of saved messages, inline ones included, and see what was skipped'
            Setup = {
                param($Mock, $Dir)
                $folder = New-Item -ItemType Directory (Join-Path $Dir.D 'Mail/Newsletters')
                $null = New-Item -ItemType Directory (Join-Path $Dir.D 'Mail/Images')
                $logo = [Convert]::ToBase64String($png)
                $other = [Convert]::ToBase64String([byte[]](1..40))
                foreach ($n in 1, 2) {
                    # The same logo inline in both; the second also attaches another image named logo.png.
                    $extra = if ($n -eq 2) { "--m`r`nContent-Type: image/png`r`nContent-Disposition: attachment; filename=`"logo.png`"`r`nContent-Transfer-Encoding: base64`r`n`r`n$other`r`n" } else { '' }
                    $text = "From: news@fabrikam.com`r`nTo: monitoring@contoso.com`r`nSubject: News $n`r`nMIME-Version: 1.0`r`nContent-Type: multipart/mixed; boundary=`"m`"`r`n`r`n" +
                        "--m`r`nContent-Type: multipart/related; boundary=`"r`"`r`n`r`n--r`r`nContent-Type: text/html`r`n`r`n<img src=`"cid:logo`">`r`n" +
                        "--r`r`nContent-Type: image/png`r`nContent-Disposition: inline; filename=`"logo.png`"`r`nContent-ID: <logo>`r`nContent-Transfer-Encoding: base64`r`n`r`n$logo`r`n--r--`r`n" +
                        "$extra--m`r`nContent-Type: text/csv`r`nContent-Disposition: attachment; filename=`"subscribers.csv`"`r`n`r`na,b`r`n--m--`r`n"
                    [IO.File]::WriteAllText((Join-Path $folder "news[$n].eml"), $text)
                }
            }
            Assert = {
                param($Mock, $Run, $Dir)
                $images = Join-Path $Dir.D 'Mail/Images'
                $names = @(Get-ChildItem $images -Force | Sort-Object Name).Name
                $names.Count | Should -Be 2
                $suffix = [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData([byte[]](1..40))).Substring(0, 8).ToLowerInvariant()
                $names[0] | Should -Be "logo ($suffix).png"
                $names[1] | Should -Be 'logo.png'
                [IO.File]::ReadAllBytes((Join-Path $images 'logo.png')) | Should -Be $png
                $Run.Output | Should -Match '(?m)^VERBOSE: Skipped the attachment ''logo\.png'' of message news\[2\]\.eml'
                $Run.Output | Should -Match '(?m)^Name\s+Length\s+OriginalName'
            }
        }

        # ---------------------------------------------------------------- about_MailProtocols
        @{
            Source = 'about_MailProtocols'; Index = 1; Title = 'Send a message through a submission server'
            Setup = {
                param($Mock, $Dir)
                $scripts = New-Item -ItemType Directory (Join-Path $Dir.C 'Scripts')
                [pscredential]::new('alerts@contoso.com', $credential.Password) | Export-Clixml -Path (Join-Path $scripts 'smtp.cred.xml')
            }
            Assert = {
                param($Mock, $Run, $Dir)
                $Mock.Messages.Count | Should -Be 1
                Get-MimeHeader $Mock.Messages[0].DataText 'Subject' | Should -Be 'Backup finished'
                $Mock.Messages[0].AuthUser | Should -Be 'alerts@contoso.com'
                $Mock.Messages[0].Tls | Should -BeTrue
            }
        }
        @{
            Source = 'about_MailProtocols'; Index = 2; Title = 'Send with an OAuth2 token through Microsoft 365'
            Assert = {
                param($Mock, $Run, $Dir)
                $Mock.Messages.Count | Should -Be 1
                $Mock.SmtpSessions[0].AuthMechanism | Should -Be 'XOAUTH2'
                $Mock.SmtpSessions[0].AuthUser | Should -Be 'me@contoso.com'
                $Mock.Messages[0].AcceptedRecipients | Should -Be @('you@contoso.com')
            }
        }
        @{
            Source = 'about_MailProtocols'; Index = 3; Title = 'Save new mail to disk and delete it from the server'
            Setup = {
                param($Mock, $Dir)
                $scripts = New-Item -ItemType Directory (Join-Path $Dir.C 'Scripts')
                $credential | Export-Clixml -Path (Join-Path $scripts 'pop3.cred.xml')
                $null = New-Item -ItemType Directory (Join-Path $Dir.D 'Mail/Inbox')
                $null = $Mock.AddTestMessages('monitoring', 3)
            }
            Assert = {
                param($Mock, $Run, $Dir)
                $Run.Output | Should -BeNullOrEmpty
                @(Get-ChildItem (Join-Path $Dir.D 'Mail/Inbox') -Filter *.eml).Count | Should -Be 3
                $Mock.GetMailbox('monitoring').Count | Should -Be 0
                $Mock.Pop3Sessions[0].ImplicitTls | Should -BeTrue
            }
        }
        @{
            Source = 'about_MailProtocols'; Index = 3; Title = 'Save new mail to disk and delete it from the server'
            Variant = 'the connection drops halfway'
            Setup = {
                param($Mock, $Dir)
                $scripts = New-Item -ItemType Directory (Join-Path $Dir.C 'Scripts')
                $credential | Export-Clixml -Path (Join-Path $scripts 'pop3.cred.xml')
                $null = New-Item -ItemType Directory (Join-Path $Dir.D 'Mail/Inbox')
                $null = $Mock.AddTestMessages('monitoring', 3)
                $null = $Mock.Pop3CloseMidRetr('2', 100, 1)
            }
            ExitCode = 1; Errors = 'Mail fetch failed: ConnectionLost,'
            Assert = {
                param($Mock, $Run, $Dir)
                $Mock.GetMailbox('monitoring').Count | Should -Be 3 -Because 'a run that fails deletes nothing'
                @(Get-ChildItem (Join-Path $Dir.D 'Mail/Inbox') -Filter *.partial).Count | Should -Be 0
            }
        }
        @{
            Source = 'about_MailProtocols'; Index = 4; Title = 'Delete old messages in a scheduled task'
            Setup = {
                param($Mock, $Dir)
                $Dir.Extra.Old = $Mock.AddMessage('monitoring', (New-MailBytes -From 'noreply@monitor.contoso.com' -Subject 'ALERT old' -Date ([DateTimeOffset]::Now.AddDays(-40))))
                $Dir.Extra.Kept = $Mock.AddMessage('monitoring', (New-MailBytes -From 'noreply@monitor.contoso.com' -Subject 'ALERT new' -Date ([DateTimeOffset]::Now.AddDays(-1))))
            }
            Assert = {
                param($Mock, $Run, $Dir)
                @($Mock.GetMailbox('monitoring').Uid) | Should -Be @($Dir.Extra.Kept)
                $Run.Output | Should -Match "(?m)^$([regex]::Escape($Dir.Extra.Old))\s+1\s+\d+\s*$"
            }
        }
        @{
            Source = 'about_MailProtocols'; Index = 5; Title = 'Use a credential from a SecretManagement vault'
            Prelude = @'
# Stand-in for Get-Secret (Microsoft.PowerShell.SecretManagement is not installed here): the
# vault 'mail' holds the credential of the mock's user.
function Get-Secret { param([string] $Name, [string] $Vault) $cred }
'@
            Assert = {
                param($Mock, $Run, $Dir)
                $Mock.Messages.Count | Should -Be 1
                $Mock.Messages[0].AuthUser | Should -Be 'monitoring'
                $Mock.Messages[0].Tls | Should -BeTrue -Because 'the server offers STARTTLS, so the password goes over TLS'
            }
        }
        @{
            Source = 'about_MailProtocols'; Index = 6; Title = 'Find out why a connection fails'
            Setup = { param($Mock, $Dir) $null = $Mock.AddTestMessages('monitoring', 2) }
            Assert = {
                param($Mock, $Run, $Dir)
                $transcript = Get-Content (Join-Path $Dir.Work 'pop3.log') -Raw
                $transcript | Should -Match 'STLS'
                $Run.Output | Should -Match '(?m)^VERBOSE: '
                $Run.Output | Should -Match 'Test message 2'
                $Mock.GetMailbox('monitoring').Count | Should -Be 2
            }
        }
    )

    foreach ($case in $cases) {
        foreach ($key in 'Variant', 'Drop', 'Sample', 'Prelude', 'Setup', 'Errors', 'Warnings') { if (-not $case.ContainsKey($key)) { $case[$key] = $null } }
        if (-not $case.ContainsKey('ExitCode')) { $case.ExitCode = 0 }
        if (-not $case.ContainsKey('ImportsModule')) { $case.ImportsModule = $false }
        $example = $examples | Where-Object { $_.Source -eq $case.Source -and $_.Index -eq $case.Index }
        $case.FoundTitle = $example.Title
        $case.Code = $example.Code
        $case.Name = "$($case.Source) example $($case.Index)" + $(if ($case.Variant) { ", $($case.Variant)" })
    }

    $countCases = foreach ($source in $expectedCounts.Keys) {
        $found = @($examples | Where-Object Source -eq $source)
        @{
            Source   = $source
            Expected = $expectedCounts[$source]
            Found    = $found.Count
            Missing  = @($found | Where-Object { $e = $_; -not ($cases | Where-Object { $_.Source -eq $e.Source -and $_.Index -eq $e.Index }) } | ForEach-Object { "$($_.Index): $($_.Title)" })
        }
    }
}

Describe 'Examples found in the docs' {
    It '<Source> has <Expected> examples, each with a case in this file' -ForEach $countCases {
        $Found | Should -Be $Expected -Because 'an example added or removed needs its case here'
        @($Missing).Count | Should -Be 0 -Because "every example needs a case; these have none: $($Missing -join '; ')"
    }
}

Describe 'Examples run as users run them' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')

        # A private CA that the child trusts through SSL_CERT_FILE, and the mock serving a
        # localhost certificate it signed, so that no example needs -SkipCertificateCheck.
        $authority = [MockMail.TestCertificates]::CreateAuthority('MailProtocols Examples CA')
        $now = [DateTimeOffset]::UtcNow
        $mock = [MockMail.MockServer]::new()
        $mock.UseCertificate([MockMail.TestCertificates]::CreateServerCertificate($authority, 'localhost', $now.AddDays(-1), $now.AddDays(30)))
        $mock.Start()
        # Google's token endpoint for the service account example, with a certificate of the same CA.
        $google = [MockMail.MockGoogle]::new([MockMail.TestCertificates]::CreateServerCertificate($authority, 'localhost', $now.AddDays(-1), $now.AddDays(30)))
        $google.Start()
        $mock.Google = $google
        $caBundle = Join-Path $TestDrive 'ca.pem'
        Set-Content -Path $caBundle -Value ([MockMail.TestCertificates]::ToPem($authority)) -NoNewline

        $password = 'Ex4mple!Pa55'
        $credential = [pscredential]::new('monitoring', (ConvertTo-SecureString $password -AsPlainText -Force))
        $tokenText = 'ya29.ExampleToken-m365'
        $gmailTokenText = 'ya29.ExampleToken-gmail'
        $png = [Convert]::FromBase64String('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==')
        $pdf = [Text.Encoding]::ASCII.GetBytes("%PDF-1.4`n1 0 obj << /Type /Catalog >> endobj`ntrailer << /Root 1 0 R >>`n%%EOF`n")
        # The vendor mailbox of the Save-MailAttachment recipe (help Example 1 and the README): three
        # messages, one with a hostile name and two with a daily.csv of other bytes, one without
        # attachments; and what a finished run leaves.
        $vendorSetup = {
            param($Mock, $Dir)
            $Mock.Users['vendor-files@contoso.com'] = $password
            $null = New-Item -ItemType Directory (Join-Path $Dir.C 'Scripts'), (Join-Path $Dir.D 'Vendor/Inbox'), (Join-Path $Dir.D 'Vendor/Files'), (Join-Path $Dir.D 'Vendor/Done')
            # No line break: a text attachment's line ends may be rewritten as CRLF on the way.
            $a = [Text.Encoding]::UTF8.GetBytes('day,amount;1,10'); $b = [Text.Encoding]::UTF8.GetBytes('day,amount;2,20')
            $Dir.Extra.Bytes = @{ 'report.pdf' = $pdf; 'daily.csv' = $a; 'notes.txt' = [byte[]](5, 5) }
            $Dir.Extra.Suffixed = 'daily (' + [Convert]::ToHexString([Security.Cryptography.SHA256]::HashData($b)).Substring(0, 8).ToLowerInvariant() + ').csv'
            $Dir.Extra.Bytes[$Dir.Extra.Suffixed] = $b
            $Dir.Extra.Uids = @(
                $Mock.AddMessage('vendor-files@contoso.com', (New-MailBytes -From 'files@fabrikam.com' -Subject 'Day 1' -Attachment ([ordered]@{ 'daily.csv' = $a; '../../../../tmp/escaped/report.pdf' = $pdf })))
                $Mock.AddMessage('vendor-files@contoso.com', (New-MailBytes -From 'files@fabrikam.com' -Subject 'Day 2' -Attachment ([ordered]@{ 'daily.csv' = $b; 'notes.txt' = [byte[]](5, 5) })))
                $Mock.AddMessage('vendor-files@contoso.com', (New-MailBytes -From 'files@fabrikam.com' -Subject 'No files today'))
            )
        }
        $vendorAssert = {
            param($Mock, $Dir, [string[]] $Expected)
            $Mock.GetMailbox('vendor-files@contoso.com').Count | Should -Be 0 -Because 'every message was saved, so every one is deleted'
            $files = Join-Path $Dir.D 'Vendor/Files'
            @(Get-ChildItem $files -Force | Sort-Object Name).Name | Should -Be @($Expected | Sort-Object)
            foreach ($name in $Expected) { [IO.File]::ReadAllBytes((Join-Path $files $name)) | Should -Be $Dir.Extra.Bytes[$name] }
            @(Get-ChildItem (Join-Path $Dir.D 'Vendor/Done') -Filter *.eml).Count | Should -Be 3
            @(Get-ChildItem (Join-Path $Dir.D 'Vendor/Inbox') -Filter *.eml | Where-Object Name -NE 'broken.eml').Count | Should -Be 0
            Join-Path ([IO.Path]::GetTempPath()) 'escaped' | Should -Not -Exist
        }
        # An Entra app for the app-only examples: the mock token endpoint (trusted through the same
        # CA), the app's certificate (in a .pfx, and in the child's CurrentUser\My store through
        # the prelude) and its client secret (what the prelude's Get-Secret returns).
        $entra = [MockMail.MockEntra]::new([MockMail.TestCertificates]::CreateServerCertificate($authority, 'localhost', $now.AddDays(-1), $now.AddDays(30)))
        $entra.Start()
        $mock.Entra = $entra
        $appId = '6f1c8e2a-4b7d-4e0b-9a51-3c2d7e8f9a10'
        $appCertificate = [MockMail.TestCertificates]::CreateServerCertificate($authority, 'mail-app.contoso.com', $now.AddDays(-1), $now.AddDays(300)) # before the CA's notAfter, one year after a moment before $now
        $appSecret = 'Qx8~Example.App-Secret_value'
        $pfxPassword = 'Pfx!Example-Pa55'
        $appPfx = Join-Path $TestDrive 'mail-app.pfx'
        [IO.File]::WriteAllBytes($appPfx, $appCertificate.Export('Pfx', $pfxPassword))
        $entra.AddApp('contoso.onmicrosoft.com', $appId, $appCertificate, [string[]]@('reports@contoso.com', 'helpdesk@contoso.com'))
        $entra.AddApp('contoso.onmicrosoft.com', $appId, $appSecret, [string[]]@())
        $appPrelude = @(
            '# The app''s certificate with its key in this account''s store, as the admin put it there.'
            "`$store = [System.Security.Cryptography.X509Certificates.X509Store]::new('My', 'CurrentUser'); `$store.Open('ReadWrite')"
            "`$store.Add([System.Security.Cryptography.X509Certificates.X509Certificate2]::new('$appPfx', '$pfxPassword', 'PersistKeySet')); `$store.Dispose()"
            "`$thumbprint = '$($appCertificate.Thumbprint)'"
            '# A vault of SecretManagement, as the examples read it.'
            "function Get-Secret { param([string] `$Name) @{ MailAppSecret = '$appSecret'; MailAppPfxPassword = '$pfxPassword' }[`$Name] | ConvertTo-SecureString -AsPlainText -Force }"
            '# The sign-in authority is the mock token endpoint.'
            foreach ($command in 'Send-SmtpMessage', 'Get-Pop3Message', 'Remove-Pop3Message', 'Test-SmtpConnection') { "`$PSDefaultParameterValues['${command}:Authority'] = '$($entra.Authority)'" }
        ) -join "`n"

        $publicHosts = 'smtp.contoso.com', 'mail.contoso.com', 'pop.contoso.com', 'smtp.office365.com', 'outlook.office365.com', 'pop.gmail.com', 'smtp.gmail.com'

        function Set-MockAccount {
            # Every account the examples log in with has the same password; the tokens are those
            # the prelude gives the examples.
            foreach ($user in 'monitoring', 'helpdesk@contoso.com', 'invoices@contoso.com', 'alerts@contoso.com') { $mock.Users[$user] = $password }
            foreach ($user in 'reports@contoso.com', 'me@contoso.com') { $mock.OAuthTokens[$user] = $tokenText }
            $mock.OAuthTokens['contoso.reports@gmail.com'] = $gmailTokenText
        }

        function New-MailBytes {
            # A message as a mail client would send it, for a mailbox of the mock.
            param([string] $From, [string] $Subject, [string] $To = 'monitoring@contoso.com', [string] $Body = 'Hello.',
                [DateTimeOffset] $Date = [DateTimeOffset]::Now, [System.Collections.IDictionary] $Attachment = @{}, [switch] $NoDate)
            $message = [MimeKit.MimeMessage]::new()
            $message.From.Add([MimeKit.InternetAddress]::Parse($From))
            $message.To.Add([MimeKit.InternetAddress]::Parse($To))
            $message.Subject = $Subject
            $message.Date = $Date
            $builder = [MimeKit.BodyBuilder]::new()
            $builder.TextBody = $Body
            foreach ($name in $Attachment.Keys) { $null = $builder.Attachments.Add($name, [byte[]]$Attachment[$name]) }
            $message.Body = $builder.ToMessageBody()
            if ($NoDate) { $null = $message.Headers.Remove([MimeKit.HeaderId]::Date) }
            $stream = [IO.MemoryStream]::new()
            $message.WriteTo($stream)
            , $stream.ToArray()
        }

        function Remove-SampleOutput {
            # Drops the lines that match one of the case's patterns (whole lines); a pattern that
            # matches nothing is an error, so that a changed sample is noticed.
            param([string] $Code, [string[]] $Pattern)
            $lines = $Code -replace "`r`n", "`n" -split "`n"
            $dropped = [System.Collections.Generic.List[string]]::new()
            foreach ($p in $Pattern) {
                $hits = @($lines -match "^(?:$p)$")
                if (-not $hits) { throw "No line of the example matches the sample-output pattern '$p'." }
                $dropped.AddRange([string[]]$hits)
            }
            $kept = $lines | Where-Object { $line = $_; -not ($Pattern | Where-Object { $line -match "^(?:$_)$" }) }
            [pscustomobject]@{ Code = $kept -join "`n"; Dropped = $dropped -join "`n" }
        }

        function Convert-ServerDetail {
            # The only edit inside an example: its public host names become localhost, and the
            # port numbers given to -Port or a Port key become the mock's. Tokens, not text, so
            # that comments and e-mail addresses stay as they are.
            param([string] $Code)
            $tokens = $null; $parseErrors = $null
            $null = [System.Management.Automation.Language.Parser]::ParseInput($Code, [ref] $tokens, [ref] $parseErrors)
            if ($parseErrors) { throw "The example does not parse: $($parseErrors[0].Message) at '$($parseErrors[0].Extent.Text)' (line $($parseErrors[0].Extent.StartLineNumber))." }
            $edits = [System.Collections.Generic.List[object]]::new()
            $implicitPop3 = $false; $implicitSmtp = $false
            for ($i = 0; $i -lt $tokens.Count; $i++) {
                $token = $tokens[$i]
                if ($token.Kind -in 'Generic', 'StringLiteral', 'StringExpandable' -and $token.Value -in $publicHosts) {
                    $edits.Add(@{ Start = $token.Extent.StartOffset; End = $token.Extent.EndOffset; Text = $token.Text.Replace($token.Value, 'localhost') })
                }
                elseif ($token.Kind -eq 'Number' -and $i -gt 0) {
                    $previous = $tokens[$i - 1]
                    $isPort = ($previous.Kind -eq 'Parameter' -and $previous.ParameterName -eq 'Port') -or
                        ($previous.Kind -eq 'Equals' -and $i -gt 1 -and $tokens[$i - 2].Text -eq 'Port')
                    if ($isPort) {
                        $port = switch ($token.Value) {
                            { $_ -in 25, 587 } { $mock.SmtpPort }
                            465 { $mock.SmtpsPort; $implicitSmtp = $true }
                            110 { $mock.Pop3Port }
                            995 { $mock.Pop3sPort; $implicitPop3 = $true }
                            default { throw "The example uses port $($token.Value), which has no counterpart in the mock." }
                        }
                        $edits.Add(@{ Start = $token.Extent.StartOffset; End = $token.Extent.EndOffset; Text = "$port" })
                    }
                }
            }
            $text = $Code
            foreach ($edit in $edits | Sort-Object { $_.Start } -Descending) {
                $text = $text.Substring(0, $edit.Start) + $edit.Text + $text.Substring($edit.End)
            }

            # Every server the example names must now be the mock: an unknown host name fails here
            # instead of being looked up.
            $null = [System.Management.Automation.Language.Parser]::ParseInput($text, [ref] $tokens, [ref] $parseErrors)
            for ($i = 0; $i -lt $tokens.Count - 2; $i++) {
                $value = $null
                if ($tokens[$i].Kind -eq 'Parameter' -and $tokens[$i].ParameterName -in 'SmtpServer', 'Pop3Server') { $value = $tokens[$i + 1] }
                elseif ($tokens[$i].Text -in 'SmtpServer', 'Pop3Server' -and $tokens[$i + 1].Kind -eq 'Equals') { $value = $tokens[$i + 2] }
                if ($value -and $value.Kind -ne 'Variable' -and $value.Text.Trim('''"') -ne 'localhost') {
                    throw "The example names the server '$($value.Text)', which this test does not map to the mock."
                }
            }
            [pscustomobject]@{ Code = $text; ImplicitPop3 = $implicitPop3; ImplicitSmtp = $implicitSmtp }
        }

        function New-Prelude {
            # What the examples assume exists, before the example's own text.
            param($Dir, [bool] $ImportModule, $Server, [string] $Extra)
            $quote = { param($s) "'" + ($s -replace "'", "''") + "'" }
            $pop3Port = if ($Server.ImplicitPop3) { $mock.Pop3sPort } else { $mock.Pop3Port }
            $smtpPort = if ($Server.ImplicitSmtp) { $mock.SmtpsPort } else { $mock.SmtpPort }
            $lines = @(
                '# ---- Prelude of tests/Examples.Tests.ps1, not part of the example ----'
                if ($ImportModule) { "Import-Module $(& $quote $modulePath)" }
                "`$null = New-PSDrive -Name C -PSProvider FileSystem -Root $(& $quote $Dir.C)"
                "`$null = New-PSDrive -Name D -PSProvider FileSystem -Root $(& $quote $Dir.D)"
                "`$cred = [pscredential]::new('monitoring', (ConvertTo-SecureString $(& $quote $password) -AsPlainText -Force))"
                "`$pop = @{ Pop3Server = 'localhost'; Credential = `$cred }"
                "`$tokenText = $(& $quote $tokenText)"
                "`$token = ConvertTo-SecureString `$tokenText -AsPlainText -Force"
                "`$gmailToken = ConvertTo-SecureString $(& $quote $gmailTokenText) -AsPlainText -Force"
                "`$html = '<h1>Weekly report</h1><p>All systems normal.</p>'"
                '# Get-Credential cannot prompt under -NonInteractive: this one returns the account asked for.'
                "function Get-Credential { param([string] `$UserName = 'monitoring', [string] `$Message, [string] `$Title) [pscredential]::new(`$UserName, (ConvertTo-SecureString $(& $quote $password) -AsPlainText -Force)) }"
                '# An example without a port uses the default port (25 for SMTP, 110 for POP3): here, the mock''s.'
                "`$PSDefaultParameterValues = @{ 'Send-SmtpMessage:Port' = $smtpPort; 'Get-Pop3Message:Port' = $pop3Port; 'Remove-Pop3Message:Port' = $pop3Port }"
                if ($Server.ImplicitPop3) {
                    '# The example uses port 995, where -TlsMode Auto means implicit TLS; the mock''s implicit-TLS port has another number.'
                    "`$PSDefaultParameterValues['Get-Pop3Message:TlsMode'] = 'Implicit'; `$PSDefaultParameterValues['Remove-Pop3Message:TlsMode'] = 'Implicit'"
                }
                if ($Server.ImplicitSmtp) {
                    '# The example uses port 465, where -TlsMode Auto means implicit TLS; the mock''s implicit-TLS port has another number.'
                    "`$PSDefaultParameterValues['Send-SmtpMessage:TlsMode'] = 'Implicit'"
                }
                if ($Extra) { $Extra }
                '# ---- The example ----'
            )
            $lines -join "`n"
        }

        function Invoke-Example {
            # Runs the script as a scheduled task runs it, with the CA trusted, $HOME in the test's
            # folder and the computer name a Windows machine has. Bounded, so that a hang fails.
            param([string] $Script, $Dir)
            $start = [Diagnostics.ProcessStartInfo]::new((Join-Path $PSHOME 'pwsh'))
            foreach ($argument in '-NoProfile', '-NonInteractive', '-File', $Script) { $start.ArgumentList.Add($argument) }
            $start.WorkingDirectory = $Dir.Work
            $start.UseShellExecute = $false
            $start.RedirectStandardOutput = $true
            $start.RedirectStandardError = $true
            $start.Environment['SSL_CERT_FILE'] = $caBundle
            $start.Environment['HOME'] = $Dir.Home
            $start.Environment['COMPUTERNAME'] = 'SRV01'
            $process = [Diagnostics.Process]::Start($start)
            $stdout = $process.StandardOutput.ReadToEndAsync()
            $stderr = $process.StandardError.ReadToEndAsync()
            if (-not $process.WaitForExit(90000)) {
                $process.Kill($true)
                throw "The example did not end within 90 s. Output so far: $($stdout.Result)"
            }
            $process.WaitForExit()
            $ansi = '\x1b\[[0-9;?]*[A-Za-z]'
            $output = ($stdout.Result -replace $ansi -replace "`r`n", "`n").TrimEnd()
            $errors = ($stderr.Result -replace $ansi -replace "`r`n", "`n").TrimEnd()
            # The error view wraps a message over lines that start with '|': join them again.
            $errorText = $errors -replace '\n\s*\|\s*', ' ' -replace '[ ]{2,}', ' '
            [pscustomobject]@{
                ExitCode  = $process.ExitCode
                Output    = $output
                Errors    = $errors
                ErrorText = $errorText
                Warnings  = @($output -split "`n" -match '^WARNING: ')
                Text      = "exit code $($process.ExitCode)`n--- stdout:`n$output`n--- stderr:`n$errors"
            }
        }
    }

    AfterAll {
        $mock.Dispose()
        $entra.Dispose()
        $google.Dispose()
    }

    BeforeEach {
        $mock.Reset()
        $entra.Reset()
        Set-MockAccount
    }

    It '<Name>' -ForEach $cases {
        $FoundTitle | Should -Be $Title -Because "the case is for the example titled '$Title'"

        $folder = Join-Path $TestDrive ($Name -replace '[^\w-]+', '-')
        $dir = [pscustomobject]@{
            Work  = Join-Path $folder 'work'
            C     = Join-Path $folder 'C'
            D     = Join-Path $folder 'D'
            Home  = Join-Path $folder 'home'
            Extra = @{}
        }
        $null = New-Item -ItemType Directory $dir.Work, $dir.C, $dir.D, $dir.Home

        $code = $Code
        if ($Drop) {
            $cut = Remove-SampleOutput $code $Drop
            $code = $cut.Code
            foreach ($pattern in $Sample) { $cut.Dropped | Should -Match $pattern -Because 'the sample output in the docs must show what the module prints' }
        }
        $server = Convert-ServerDetail $code
        if ($Setup) { & $Setup $mock $dir }

        $script = Join-Path $folder 'example.ps1'
        $extra = if ($Prelude) { $Prelude.Replace('{{AppSignIn}}', $appPrelude) }
        Set-Content -LiteralPath $script -Value ((New-Prelude $dir (-not $ImportsModule) $server $extra) + "`n" + $server.Code)
        $run = Invoke-Example $script $dir
        $null = $mock.WaitForIdle(5000)

        $run.ExitCode | Should -Be $ExitCode -Because $run.Text
        if ($Errors) { $run.ErrorText | Should -Match $Errors -Because $run.Text }
        else { $run.Errors | Should -BeNullOrEmpty -Because $run.Text }
        foreach ($warning in $run.Warnings) { $warning | Should -Match $(if ($Warnings) { $Warnings } else { '^$' }) -Because 'no other warning is expected' }
        foreach ($pattern in $Sample) { "$($run.Output)`n$($run.ErrorText)" | Should -Match $pattern -Because 'the sample output in the docs must show what the module prints' }
        $secrets = @($password, $tokenText, $gmailTokenText, $appSecret, $pfxPassword) + $entra.Secrets
        Assert-NoSecret -Text "$($run.Output)`n$($run.Errors)" -Secret $secrets
        foreach ($log in Get-ChildItem $folder -Filter *.log -Recurse) {
            Assert-NoSecret -Text (Get-Content -LiteralPath $log.FullName -Raw) -Secret $secrets
        }

        # A broken promise is easier to understand next to what the example printed.
        try { & $Assert $mock $run $dir }
        catch { throw "$($_.Exception.Message)`n$($run.Text)" }
    }
}
