# A small stand-in for the parts of nixpkgs' `lib` the nix-devbox modules call, written with
# builtins only, so checks/pure/ can evaluate a module's function and inspect what it defines
# without nixpkgs. Module-system constructs (mkIf, mkMerge, mkDefault) become plain markers the
# checks look into; option declarations are kept as their argument sets. This is not the module
# system: it checks the modules' own logic (what they derive from users.nix, which assertions
# fire), while the flake checks and VM tests evaluate them for real.
let
  inherit (builtins)
    attrNames
    concatStringsSep
    filter
    genList
    head
    isAttrs
    listToAttrs
    map
    stringLength
    substring
    tail
    ;
  recursiveUpdate =
    a: b:
    a
    // builtins.mapAttrs (n: v: if isAttrs v && isAttrs (a.${n} or null) then recursiveUpdate a.${n} v else v) b;
  type = name: { _stubType = name; };
in
rec {
  inherit recursiveUpdate;
  inherit (builtins)
    all
    attrNames
    attrValues
    concatStringsSep
    elem
    filter
    listToAttrs
    mapAttrs
    ;

  mkIf = condition: content: {
    _type = "if";
    inherit condition content;
  };
  mkMerge = contents: {
    _type = "merge";
    inherit contents;
  };
  mkDefault = content: {
    _type = "override";
    priority = 1000;
    inherit content;
  };
  mkOption = args: { _stubOption = args; };
  mkEnableOption = description: mkOption {
    default = false;
    inherit description;
  };
  mkPackageOption = _pkgs: name: extra: mkOption ({ defaultPackage = name; } // extra);
  literalExpression = text: {
    _type = "literalExpression";
    inherit text;
  };
  types = {
    bool = type "bool";
    str = type "str";
    path = type "path";
    package = type "package";
    anything = type "anything";
    listOf = t: type "listOf";
    attrsOf = t: type "attrsOf";
    nullOr = t: type "nullOr";
  };

  optional = cond: x: if cond then [ x ] else [ ];
  optionalAttrs = cond: as: if cond then as else { };
  filterAttrs =
    pred: set:
    listToAttrs (
      map (n: {
        name = n;
        value = set.${n};
      }) (filter (n: pred n set.${n}) (attrNames set))
    );
  hasPrefix = prefix: s: substring 0 (stringLength prefix) s == prefix;
  attrByPath =
    path: default: set:
    if path == [ ] then
      set
    else if isAttrs set && set ? ${head path} then
      attrByPath (tail path) default set.${head path}
    else
      default;
  concatMapStringsSep = sep: f: list: concatStringsSep sep (map f list);
  range = first: last: genList (i: first + i) (last - first + 1);
  nameValuePair = name: value: { inherit name value; };
  getExe = pkg: "${pkg.outPath or "/stub"}/bin/${pkg.meta.mainProgram or "main"}";
  getExe' = pkg: bin: "${pkg.outPath or "/stub"}/bin/${bin}";
  escapeShellArg = s: "'" + builtins.replaceStrings [ "'" ] [ "'\\''" ] s + "'";
}
