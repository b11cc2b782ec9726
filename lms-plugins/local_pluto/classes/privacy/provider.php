<?php
// This file is part of Pluto Bridge's Totara plugin local_pluto.
//
// local_pluto is free software: you can redistribute it and/or modify
// it under the terms of the GNU General Public License as published by
// the Free Software Foundation, either version 3 of the License, or
// (at your option) any later version.

/**
 * Privacy: the plugin stores nothing of its own.
 *
 * @package    local_pluto
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

namespace local_pluto\privacy;

defined('MOODLE_INTERNAL') || die();

/**
 * Null provider.
 */
class provider implements \core_privacy\local\metadata\null_provider {
    /**
     * The language string that says why nothing is stored.
     *
     * @return string
     */
    public static function get_reason(): string {
        return 'privacy:metadata';
    }
}
