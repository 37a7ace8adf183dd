using Clip.Cli;

return await ClipCtl.RunAsync(args, CliConsole.System);
